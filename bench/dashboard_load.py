"""The dashboard under concurrent load, as `rivulet dashboard` serves it (waitress).

    python -m bench.dashboard_load [--quick] [--json] [--clients N] [--rounds N]

Starts a throwaway redis-server on 127.0.0.1, fills it through the library (2,000
channels x 5 subscribers x 20 messages), then starts ``rivulet dashboard`` against it
in a subprocess on a free loopback port. Then:

1. ``--clients`` threads (default 50), each with its own keep-alive connection and a
   Bearer token, request ``/``, ``/api/channels`` and ``/metrics`` in turn, ``--rounds``
   times each. The latency of every request is what a client sees (queueing at the
   server included); the server's CPU time over the phase comes from /proc.
2. 800 connections are opened that send half a request's headers and wait. The
   server's thread count is read from /proc while they are open, and one ordinary
   request is timed through them.

Everything is bounded: a fixed number of requests, one timeout per request, and the
server and redis-server are stopped (by process id) however the run ends.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python bench/dashboard_load.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _populate, _report, _server
from bench._timing import percentile

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-load-token"
PATHS = ("/", "/api/channels", "/metrics")
HALF_OPEN = 800
REQUEST_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Config:
    channels: int
    subscribers: int
    messages: int
    clients: int
    rounds: int


DEFAULT = Config(channels=2_000, subscribers=5, messages=20, clients=50, rounds=4)
QUICK = Config(channels=2_000, subscribers=5, messages=20, clients=50, rounds=1)


@dataclass(frozen=True)
class PathResult:
    path: str
    requests: int
    errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float


@dataclass(frozen=True)
class HalfOpenResult:
    connections: int
    threads_before: int
    threads_during: int
    request_ms: float
    status: int


class Dashboard:
    """``rivulet dashboard`` in a subprocess; its first stdout line gives the URL."""

    def __init__(self, redis_url: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.endswith("REDIS_URL")}
        env["PYTHONPATH"] = str(ROOT)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rivulet.cli", "dashboard", "--redis-url", redis_url,
             "--host", "127.0.0.1", "--port", "0", "--token", TOKEN],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("Dashboard: "):
            self.stop()
            sys.exit(f"the dashboard did not start: {line!r}")
        base = line.split(" ", 1)[1].split("?", 1)[0].strip().rstrip("/")
        self.port = int(base.rsplit(":", 1)[1])

    def threads(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("Threads:"):
                return int(line.split()[1])
        return -1

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def request(conn: http.client.HTTPConnection, path: str) -> int:
    conn.request("GET", path, headers={"Authorization": f"Bearer {TOKEN}"})
    response = conn.getresponse()
    response.read()
    return response.status


def load(port: int, cfg: Config) -> tuple[dict[str, list[float]], dict[str, int], float]:
    """Every client requests each path ``rounds`` times; latencies per path, errors, wall."""
    times: dict[str, list[float]] = {path: [] for path in PATHS}
    errors = dict.fromkeys(PATHS, 0)
    lock = threading.Lock()
    start_line = threading.Barrier(cfg.clients + 1)

    def client(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
        order = PATHS[index % len(PATHS):] + PATHS[:index % len(PATHS)]  # an even mix
        start_line.wait()
        try:
            for _round in range(cfg.rounds):
                for path in order:
                    began = time.perf_counter()
                    try:
                        ok = request(conn, path) == 200
                    except (OSError, http.client.HTTPException):
                        ok = False
                        conn.close()
                    took = time.perf_counter() - began
                    with lock:
                        times[path].append(took)
                        errors[path] += not ok
        finally:
            conn.close()

    workers = [threading.Thread(target=client, args=(i,)) for i in range(cfg.clients)]
    for worker in workers:
        worker.start()
    start_line.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    return times, errors, time.perf_counter() - began


@contextlib.contextmanager
def half_open(port: int, count: int) -> Iterator[None]:
    held: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            held.append(sock)
        yield
    finally:
        for sock in held:
            sock.close()


def raise_file_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))


def run(cfg: Config) -> dict[str, Any]:
    raise_file_limit(HALF_OPEN + cfg.clients + 256)
    with _server.throwaway_server() as (url, _pid):
        env = _report.environment(_server.server_version(url), "os")
        print("populating ...", file=sys.stderr, flush=True)
        data = _populate.populate(url, cfg.channels, cfg.subscribers, cfg.messages)
        board = Dashboard(url)
        try:
            conn = http.client.HTTPConnection("127.0.0.1", board.port, timeout=REQUEST_TIMEOUT_S)
            for path in PATHS:  # warm up: templates compiled, scripts loaded
                if request(conn, path) != 200:
                    sys.exit(f"GET {path} failed before the load")
            conn.close()
            print(f"{cfg.clients} clients x {cfg.rounds} rounds ...", file=sys.stderr,
                  flush=True)
            cpu_before = board.cpu_seconds()
            times, errors, wall = load(board.port, cfg)
            cpu = board.cpu_seconds() - cpu_before
            threads_before = board.threads()
            print(f"{HALF_OPEN} half-open connections ...", file=sys.stderr, flush=True)
            with half_open(board.port, HALF_OPEN):
                threads_during = board.threads()
                conn = http.client.HTTPConnection("127.0.0.1", board.port, timeout=30)
                began = time.perf_counter()
                status = request(conn, "/healthz")
                request_ms = (time.perf_counter() - began) * 1000
                conn.close()
        finally:
            board.stop()
    paths = [
        PathResult(path, len(times[path]), errors[path],
                   round(percentile(times[path], 50) * 1000, 1),
                   round(percentile(times[path], 99) * 1000, 1),
                   round(max(times[path]) * 1000, 1))
        for path in PATHS
    ]
    total = sum(p.requests for p in paths)
    return {
        "environment": env,
        "dataset": _populate.describe(data),
        "config": asdict(cfg),
        "paths": [asdict(p) for p in paths],
        "wall_seconds": round(wall, 2),
        "requests_per_second": round(total / wall, 1),
        "server_cpu_seconds": round(cpu, 2),
        "server_cpu_share": round(cpu / wall, 2),
        "half_open": asdict(HalfOpenResult(HALF_OPEN, threads_before, threads_during,
                                           round(request_ms, 1), status)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dashboard_load",
                                     description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one round per client")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--clients", type=int, help="concurrent clients (default 50)")
    parser.add_argument("--rounds", type=int, help="requests per client per path (default 4)")
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else DEFAULT
    cfg = Config(cfg.channels, cfg.subscribers, cfg.messages, args.clients or cfg.clients,
                 args.rounds or cfg.rounds)
    result = run(cfg)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    env, half = result["environment"], result["half_open"]
    print(f"redis-server {env['redis_server']}, Python {env['python']}; "
          f"{result['dataset']['channels']:,} channels; {cfg.clients} concurrent clients x "
          f"{cfg.rounds} rounds; dashboard served by waitress in its own process")
    rows = [[p["path"], str(p["requests"]), str(p["errors"]), f"{p['p50_ms']:.1f}",
             f"{p['p99_ms']:.1f}", f"{p['max_ms']:.1f}"] for p in result["paths"]]
    print(_report.text_table(["path", "requests", "errors", "p50 ms", "p99 ms", "max ms"], rows))
    print(f"{result['requests_per_second']} requests/s over {result['wall_seconds']} s; "
          f"server CPU {result['server_cpu_seconds']} s ({result['server_cpu_share']:.0%} of "
          f"one core)")
    print(f"{half['connections']} half-open connections: server threads {half['threads_before']}"
          f" before, {half['threads_during']} during; GET /healthz through them: "
          f"{half['status']} in {half['request_ms']} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
