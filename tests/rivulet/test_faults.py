"""Redis restarts, dropped links and lost replies, on real redis-server processes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import redis.connection

import rivulet
from rivulet import keys
from rivulet.wakeup import Wakeup

from ..conftest import RedisServer
from ..socket_faults import fail_next_read, lose_next_reply

pytestmark = pytest.mark.slow


@pytest.fixture
def aof_server() -> Iterator[RedisServer]:
    """A server of its own with every write fsynced before it is acknowledged."""
    server = RedisServer(appendonly=True)
    yield server
    server.stop()


def connect(server: RedisServer, client_id: str, **kwargs: Any) -> rivulet.Client:
    return rivulet.connect(server.url, client_id=client_id, **kwargs)


def test_clients_carry_on_after_kill_and_restart(aof_server: RedisServer) -> None:
    writer = connect(aof_server, "w", channel_ids="ch")
    reader = connect(aof_server, "r", channel_ids="ch")
    assert writer.write("ch", ["1", "2"]) == [1, 2]
    aof_server.restart()  # SIGKILL, then start again on the same port and AOF
    assert writer.write("ch", ["3"]) == [3]  # same objects, no user action
    assert [m["data"] for m in reader.read()["ch"]] == ["1", "2", "3"]
    writer.close()
    reader.close()


def test_nothing_acknowledged_is_lost_or_stored_twice_across_a_crash(
    aof_server: RedisServer,
) -> None:
    total, crash_after = 300, 100
    audit = connect(aof_server, "audit", channel_ids="ch")  # reads only at the end
    consumer = connect(aof_server, "consumer", channel_ids="ch", auto_commit=False)
    producer = connect(aof_server, "producer", channel_ids="ch")
    acknowledged: list[tuple[int, str]] = []
    delivered: list[dict[str, Any]] = []
    halfway = threading.Event()
    errors: list[BaseException] = []

    def produce() -> None:
        try:
            for i in range(total):
                (mid,) = producer.write("ch", f"m{i}")
                acknowledged.append((mid, f"m{i}"))
                if i == crash_after:
                    halfway.set()
        except BaseException as error:  # surfaced by the main thread
            errors.append(error)
            halfway.set()

    def consume() -> None:
        try:
            for _, message in consumer.listen(timeout=-1):
                delivered.append(message)
                if message["data"] == f"m{total - 1}":
                    return
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=produce), threading.Thread(target=consume)]
    for thread in threads:
        thread.start()
    assert halfway.wait(30)
    aof_server.restart()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)

    # Storage: every acknowledged write exactly once, ids contiguous.
    stored = audit.read(message_limit=10_000)["ch"]
    assert [(m["id"], m["data"]) for m in stored] == acknowledged
    assert [m["id"] for m in stored] == list(range(1, total + 1))
    # The at-least-once consumer saw everything, in order (a batch may come twice).
    first_seen: dict[int, str] = {}
    for message in delivered:
        first_seen.setdefault(message["id"], message["data"])
    assert sorted(first_seen.items()) == acknowledged
    for client in (audit, consumer, producer):
        client.close()


def test_a_blocking_read_resumes_after_a_restart(aof_server: RedisServer,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    reader = connect(aof_server, "r", channel_ids="ch")
    writer = connect(aof_server, "w", channel_ids="ch")
    blocked = threading.Event()
    original = Wakeup.wait

    def wait(self: Wakeup, timeout: float | None) -> None:
        blocked.set()
        original(self, timeout)

    monkeypatch.setattr(Wakeup, "wait", wait)
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.update(reader.read(timeout=-1)))
    thread.start()
    assert blocked.wait(10)
    aof_server.restart()
    writer.write("ch", "after the restart")
    thread.join(30)
    assert [m["data"] for m in result["ch"]] == ["after the restart"]
    reader.close()
    writer.close()


@pytest.mark.parametrize("kind", ["redis", "cluster6"])
def test_a_write_whose_reply_is_lost_is_retried_but_stored_once(
    kind: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if kind == "redis":
        raw: Any = request.getfixturevalue("real_redis")
        url = request.getfixturevalue("redis_server").url
    else:
        raw = request.getfixturevalue("cluster6_redis")
        url = f"redis+cluster://127.0.0.1:{request.getfixturevalue('cluster6_server').port}"
    client = rivulet.connect(url, client_id="w", channel_ids="lossy")
    client.write("lossy", "warm-up")  # scripts loaded, connection open
    if client._fast is not None:
        # Standalone: the write reads its reply off the kept socket itself.
        lost = lose_next_reply(client._fast._kept.conn,
                               ConnectionResetError(104, "reply lost in transit"), monkeypatch)
        assert client.write("lossy", ["a", "b"]) == [2, 3]
        assert lost  # the reply really was dropped once
    else:
        lose_next = fail_next_read(redis.connection.Connection, monkeypatch)
        lose_next.set()
        assert client.write("lossy", ["a", "b"]) == [2, 3]
        assert not lose_next.is_set()  # the reply really was dropped once
    monkeypatch.undo()
    assert raw.zcard(keys.msg_key("lossy")) == 3
    assert int(raw.get(keys.id_key("lossy"))) == 3
    client.close()


@pytest.mark.parametrize("call", ["ping", "subscribe", "write", "read", "subscriptions"])
def test_redis_down_raises_connection_error_when_retries_are_spent(call: str) -> None:
    from ..conftest import free_port

    client = rivulet.connect(f"redis://127.0.0.1:{free_port()}/0", client_id="c",
                             retry=rivulet.RetryPolicy(budget_s=0.2))
    with pytest.raises(rivulet.ConnectionError) as info:
        if call == "ping":
            client.ping()
        elif call == "subscribe":
            client.subscribe("ch")
        elif call == "write":
            client.write("ch", "x")
        elif call == "read":
            client.read(timeout=1)
        else:
            client.subscriptions  # noqa: B018 - the property talks to Redis
    assert not isinstance(info.value, redis.RedisError)
    assert "cannot reach Redis" in str(info.value)
    client.close()


def test_admin_reports_redis_down_as_connection_error() -> None:
    from ..conftest import free_port

    admin = rivulet.Admin(f"redis://127.0.0.1:{free_port()}/0",
                          retry=rivulet.RetryPolicy(budget_s=0.1))
    for call in (admin.ping, admin.channels, lambda: admin.channel("x")):
        with pytest.raises(rivulet.ConnectionError):
            call()
    admin.close()
