"""The doorbell (rivulet/doorbell.py): on a standalone Redis a blocked read
waits on XREAD BLOCK of its channels' rvl:bell:{C}, with the read scripts
sent behind it, so it wakes with its messages and sends only the index
mirror's write after that (SPEC section 2: before the read returns).

Each blocked read waits with ``timeout=-1`` (or 600 s), so only a ring can
end it before the 30 s heartbeat; the 10 s joins are hang guards.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis

import rivulet
from rivulet import keys, wakeup
from rivulet.wakeup import MAX_RIDING_READS

from ..conftest import RedisServer
from .test_wakeup import GUARD_S, Blocked, redis62_server  # noqa: F401 (a fixture)


@pytest.fixture(params=["redis7", "redis62", "fakeredis"])
def standalone(request: pytest.FixtureRequest) -> Any:
    """A clean standalone backend: every one of them rings doorbells."""
    if request.param == "redis7":
        return request.getfixturevalue("real_redis")
    if request.param == "fakeredis":
        return request.getfixturevalue("fake_redis")
    server: RedisServer = request.getfixturevalue("redis62_server")
    client = server.client()
    client.flushall()
    request.addfinalizer(client.close)
    return client


class Sends:
    """Counts the commands packets one thread sends (redis-py connections)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.thread: threading.Thread | None = None
        self.count = 0
        original = redis.connection.AbstractConnection.send_packed_command
        sends = self

        def send_packed_command(conn: Any, command: Any, check_health: bool = True) -> None:
            if threading.current_thread() is sends.thread:
                sends.count += 1
            original(conn, command, check_health)

        monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command",
                            send_packed_command)


@pytest.fixture
def pair(standalone: Any) -> Iterator[tuple[rivulet.Client, rivulet.Client]]:
    reader = rivulet.Client(redis=standalone, client_id="reader", channel_ids="ch")
    writer = rivulet.Client(redis=standalone, client_id="writer", channel_ids="ch")
    yield reader, writer
    reader.close()
    writer.close()


def test_a_woken_read_sends_only_its_mirror_write_after_the_wake_up(
    pair: tuple[rivulet.Client, rivulet.Client], standalone: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reader, writer = pair
    blocked = Blocked(reader, monkeypatch)  # once first: the connections are made
    blocked.waiting()
    writer.write("ch", "warm-up")
    assert blocked.returned()["ch"]
    sends = Sends(monkeypatch)
    blocked = Blocked(reader, monkeypatch)
    sends.thread = blocked.thread
    blocked.waiting()
    sent_before = sends.count  # the wait, if already sent
    writer.write("ch", "wake up")
    assert [m["data"] for m in blocked.returned()["ch"]] == ["wake up"]
    # From entering the wait to returning: the one packet of the wait itself
    # (XREAD BLOCK + the read), then the mirror's write; no read after the ring.
    assert sends.count - sent_before <= 2
    assert standalone.zscore(keys.channel_key("ch"), "reader") == 2
    assert standalone.zscore(keys.index_key("reader"), "ch") == 2


def test_the_mirror_is_written_before_a_woken_read_returns(
    pair: tuple[rivulet.Client, rivulet.Client], standalone: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reader, writer = pair
    for batch, expected in ((["a", "b"], 2), (["c"], 3)):
        blocked = Blocked(reader, monkeypatch)
        blocked.waiting()
        writer.write("ch", batch)
        assert [m["data"] for m in blocked.returned()["ch"]] == batch
        # Read straight off Redis, not through the client: nothing is left
        # for a later call to send.
        assert standalone.zscore(keys.index_key("reader"), "ch") == expected


def test_a_write_between_two_blocking_reads_is_not_missed(
    pair: tuple[rivulet.Client, rivulet.Client], monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The second read waits at once, on the bells the first one saw.
    reader, writer = pair
    blocked = Blocked(reader, monkeypatch)
    blocked.waiting()
    writer.write("ch", "first")
    assert [m["data"] for m in blocked.returned()["ch"]] == ["first"]
    writer.write("ch", "in between")
    assert [m["data"] for m in reader.read(timeout=-1)["ch"]] == ["in between"]


def test_an_index_moved_between_two_blocking_reads_is_seen(
    pair: tuple[rivulet.Client, rivulet.Client], monkeypatch: pytest.MonkeyPatch,
) -> None:
    reader, writer = pair
    writer.write("ch", ["a", "b"])
    blocked = Blocked(reader, monkeypatch)
    writer.write("ch", "c")
    assert blocked.returned()["ch"]
    reader.subscribe("ch", "earliest")  # nothing rings, but the index moved back
    again = Blocked(reader, monkeypatch, timeout=600)
    assert [m["data"] for m in again.returned()["ch"]] == ["a", "b", "c"]


def test_a_read_of_more_channels_than_ride_behind_the_wait_still_wakes(
    standalone: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    names = [f"ch{i}" for i in range(MAX_RIDING_READS + 2)]
    reader = rivulet.Client(redis=standalone, client_id="reader", channel_ids=names)
    writer = rivulet.Client(redis=standalone, client_id="writer", channel_ids=names)
    blocked = Blocked(reader, monkeypatch)
    blocked.waiting()
    writer.write(names[-1], "to the last")
    assert [m["data"] for m in blocked.returned()[names[-1]]] == ["to the last"]
    reader.close()
    writer.close()


def test_a_broken_bell_puts_its_readers_on_pub_sub(
    pair: tuple[rivulet.Client, rivulet.Client], standalone: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reader, writer = pair
    standalone.set(keys.bell_key("ch"), "planted around the library")
    blocked = Blocked(reader, monkeypatch)
    blocked.waiting()
    assert writer.write("ch", "still stored") == [1]  # the ring is best effort
    assert [m["data"] for m in blocked.returned()["ch"]] == ["still stored"]
    standalone.delete(keys.bell_key("ch"))  # repaired: back on the doorbell
    assert reader.read() == {}
    blocked = Blocked(reader, monkeypatch)
    blocked.waiting()
    writer.write("ch", "rung")
    assert [m["data"] for m in blocked.returned()["ch"]] == ["rung"]
    assert reader._wakeup.ringing


def test_the_doorbell_goes_with_its_channel(standalone: Any) -> None:
    admin = rivulet.Admin(standalone)
    writer = rivulet.Client(redis=standalone, client_id="writer", channel_ids=["a", "b"])
    writer.write("a", "x")
    writer.write("b", "x")
    assert standalone.type(keys.bell_key("a")) in ("stream", b"stream")
    assert standalone.xlen(keys.bell_key("a")) >= 1
    assert keys.bell_key("a") in keys.channel_keys("a")
    admin.delete_channel("a")
    writer.unsubscribe("b")  # the last subscriber leaves: the channel goes
    assert not standalone.exists(keys.bell_key("a"), keys.bell_key("b"))
    writer.close()


def test_the_doorbell_stays_about_one_entry_long(
    pair: tuple[rivulet.Client, rivulet.Client], standalone: Any,
) -> None:
    _, writer = pair
    for i in range(300):
        writer.write("ch", str(i))
    # Trimmed with '~': whole stream nodes (100 entries each by default) go.
    assert standalone.xlen(keys.bell_key("ch")) <= 200


def test_a_blocked_read_is_woken_by_a_removal_of_another_subscriber(
    pair: tuple[rivulet.Client, rivulet.Client], standalone: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Removing a subscriber rings the bell: the reader looks and waits again.
    reader, _writer = pair
    blocked = Blocked(reader, monkeypatch)
    blocked.waiting()
    rivulet.Admin(standalone).remove_subscriber("ch", "writer")
    blocked.waiting()  # woken, looked, waiting again
    rivulet.Admin(standalone).post("ch", "from the admin")
    assert [m["data"] for m in blocked.returned()["ch"]] == ["from the admin"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_waits_on_its_own_connection(real_redis: Any,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    reader = rivulet.Client(redis=real_redis, client_id="reader", channel_ids="ch")
    writer = rivulet.Client(redis=real_redis, client_id="writer", channel_ids="ch")
    try:
        blocked = Blocked(reader, monkeypatch)
        blocked.waiting()
        writer.write("ch", "to the parent")
        assert blocked.returned()["ch"]
        doorbell = reader._wakeup.doorbell
        assert doorbell is not None
        parent_conn = doorbell._kept.conn
        writer.write("ch", "to the child")  # before the fork: no race with the child's wait
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: an inherited client, its parent's socket
            code = 1
            try:
                got = reader.read(timeout=-1)["ch"]
                fresh = doorbell._kept.conn is not parent_conn
                os.write(write_end, f"{got[0]['data']}|{int(fresh)}".encode())
                code = 0
            finally:
                os._exit(code)
        os.close(write_end)
        _, status = os.waitpid(pid, 0)
        reply = os.read(read_end, 64).decode()
        os.close(read_end)
        assert os.waitstatus_to_exitcode(status) == 0
        assert reply == "to the child|1"
        # The parent's link is untouched and in step: it waits for the next write.
        blocked = Blocked(reader, monkeypatch)
        blocked.waiting()
        writer.write("ch", "parent again")
        assert [m["data"] for m in blocked.returned()["ch"]] == ["parent again"]
        assert doorbell._kept.conn is parent_conn
    finally:
        reader.close()
        writer.close()


def test_a_reader_of_a_deleted_channel_learns_it_at_the_heartbeat(
    pair: tuple[rivulet.Client, rivulet.Client], standalone: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Redis serves no reader blocked on a stream that was deleted, and the bell
    # goes with its channel: the heartbeat (shortened here) ends the wait.
    reader, _writer = pair
    monkeypatch.setattr(wakeup, "HEARTBEAT_S", 0.2)
    blocked = Blocked(reader, monkeypatch)
    blocked.waiting()
    rivulet.Admin(standalone).delete_channel("ch")
    blocked.thread.join(GUARD_S)
    assert not blocked.thread.is_alive()
    assert len(blocked.error) == 1
    assert isinstance(blocked.error[0], rivulet.NotSubscribedError)


def test_a_refused_mirror_write_after_a_wake_up_is_written_again(
    pair: tuple[rivulet.Client, rivulet.Client], standalone: Any,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    # As a full Redis (maxmemory) would answer the ZADD a woken read sent.
    reader, writer = pair
    link = reader._wakeup.doorbell
    assert link is not None
    real_send = link.send

    def refused(command: Any, on_reply: Any) -> None:
        real_send(["ECHO", "not sent: refused"], lambda _reply: on_reply(
            redis.ResponseError("OOM command not allowed when used memory > 'maxmemory'")))

    monkeypatch.setattr(link, "send", refused)
    blocked = Blocked(reader, monkeypatch)
    blocked.waiting()
    writer.write("ch", "x")
    assert blocked.returned()["ch"]
    with caplog.at_level(logging.WARNING, logger="rivulet"):
        reader.close()  # reads the refusal
    assert "index mirror of client 'reader' not updated" in caplog.text
    assert standalone.zscore(keys.index_key("reader"), "ch") == 0  # as subscribe left it
    monkeypatch.setattr(link, "send", real_send)
    # The client's next read writes it, though the index has not moved since.
    assert reader.read() == {}
    assert standalone.zscore(keys.index_key("reader"), "ch") == 1
