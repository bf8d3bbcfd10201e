"""`rivulet dashboard` serves with waitress: bounded threads, half-open connections
cleaned up, IPv6 loopback. Everything runs on loopback and stops itself."""

from __future__ import annotations

import contextlib
import socket
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from dashboard.cli import bare_host, url_host
from dashboard.serving import THREADS, BackgroundServer

from .test_cli import Dashboard, started  # noqa: F401  (started is a fixture)

#: Half-open connections each test holds: far more than the worker threads.
HALF_OPEN = 300


def threads_of(pid: int) -> int:
    """The thread count of a process, from Linux's /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no Threads line")


@contextlib.contextmanager
def half_open(port: int, count: int, host: str = "127.0.0.1") -> Iterator[list[socket.socket]]:
    """``count`` connections that send part of a request's headers and then wait."""
    held: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.create_connection((host, port), timeout=10)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            held.append(sock)
        yield held
    finally:
        for sock in held:
            sock.close()


def get(url: str) -> tuple[int, dict[str, str]]:
    with urllib.request.urlopen(url, timeout=10) as response:
        response.read()
        return response.status, dict(response.headers)


@pytest.mark.parametrize(
    ("host", "bare", "in_url"),
    [("::1", "::1", "[::1]"), ("[::1]", "::1", "[::1]"), ("127.0.0.1", "127.0.0.1", "127.0.0.1"),
     ("localhost", "localhost", "localhost")],
)
def test_hosts_in_sockets_and_urls(host: str, bare: str, in_url: str) -> None:
    assert bare_host(host) == bare
    assert url_host(host) == in_url


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not ipv6_loopback(), reason="this machine has no IPv6 loopback")
@pytest.mark.parametrize("host", ["::1", "[::1]"])
def test_dashboard_listens_on_ipv6_loopback(
    tmp_path: Path, started: list[Dashboard], redis_server: Any, real_redis: Any,  # noqa: F811
    host: str,
) -> None:
    board = Dashboard(tmp_path, "--no-auth", "--host", host, env={"REDIS_URL": redis_server.url})
    started.append(board)
    assert board.url.startswith("http://[::1]:") and board.url.endswith("/")
    status, body = board.get("/api/channels")
    assert status == 200 and body["channels"] == []
    assert board.stop()[0] == 0


@pytest.mark.slow
def test_dashboard_command_serves_with_waitress_in_bounded_threads(
    tmp_path: Path, started: list[Dashboard], redis_server: Any, real_redis: Any,  # noqa: F811
) -> None:
    board = Dashboard(tmp_path, "--no-auth", env={"REDIS_URL": redis_server.url})
    started.append(board)
    status, headers = get(board.base + "healthz")
    assert status == 200 and headers["Server"] == "rivulet"  # waitress's ident
    before = threads_of(board.proc.pid)
    assert before <= THREADS + 2  # the workers, the loop, no more
    port = int(board.base.rsplit(":", 1)[1].strip("/"))
    with half_open(port, HALF_OPEN):
        # Still answering, with no thread per connection.
        status, body = board.get("/api/channels")
        assert status == 200 and body["channels"] == []
        assert threads_of(board.proc.pid) == before
    code, _out, err = board.stop()
    assert code == 0, err


def test_idle_half_open_connections_are_closed(app: Flask) -> None:
    server = BackgroundServer(app, channel_timeout=1, cleanup_interval=1)
    try:
        with half_open(server.port, 5) as held:
            for sock in held:
                # The server closes each: recv sees the end of the stream.
                assert sock.recv(1) == b""
            status, _headers = get(server.url + "/healthz")
            assert status == 200
    finally:
        server.stop()


def test_background_server_stops_and_frees_its_workers(app: Flask) -> None:
    before = set(threading.enumerate())
    server = BackgroundServer(app)
    assert get(server.url + "/healthz")[0] == 200
    workers = set(threading.enumerate()) - before
    assert len(workers) == THREADS + 1  # the pool and the loop
    server.stop()
    for thread in workers:
        thread.join(10)
        assert not thread.is_alive(), thread.name
    with pytest.raises(OSError):
        get(server.url + "/healthz")
