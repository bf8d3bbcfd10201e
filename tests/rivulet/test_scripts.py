"""The Lua scripts: cluster-safe by construction, reloaded after a flush."""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

import pytest
import redis.exceptions as rex

import rivulet
from rivulet import keys, scripts

LUA = sorted(p for p in resources.files(scripts).iterdir() if p.name.endswith(".lua"))


@pytest.mark.parametrize("path", LUA, ids=lambda p: p.name)
def test_scripts_name_no_key_of_their_own(path: Any) -> None:
    # Every key must come in through KEYS (Cluster and ACLs depend on it).
    code = [line.split("--", 1)[0] for line in path.read_text().splitlines()]
    assert "rvl:" not in "\n".join(code)


@pytest.mark.parametrize("path", [p for p in LUA if not p.name.startswith("_")],
                         ids=lambda p: p.name)
def test_scripts_open_with_a_header_naming_keys_and_return(path: Any) -> None:
    source = path.read_text()
    header = source.split("\n\n", 1)[0]
    used = set(re.findall(r"KEYS\[(\d)\]", source))
    assert "Returns" in source
    for index in used:
        assert f"KEYS[{index}]" in header or "KEYS[1..8]" in header


def test_the_cluster_fixture_refuses_cross_slot_scripts(cluster_redis: Any) -> None:
    with pytest.raises((rex.ResponseError, rex.RedisClusterException)):
        cluster_redis.eval("return 1", 2, keys.id_key("a"), keys.id_key("b"))


def test_channel_keys_share_one_slot() -> None:
    from redis.crc import key_slot

    for name in ["a", "with space", "日本語", "a/b%c#d"]:
        assert len({key_slot(k.encode()) for k in keys.channel_keys(name)}) == 1


def test_scripts_are_loaded_again_after_a_flush(backend: Any) -> None:
    client = rivulet.Client(redis=backend, client_id="c", channel_ids="ch")
    client.write("ch", "before")
    backend.script_flush()
    client.write("ch", "after")  # a single call: NOSCRIPT, load, send again
    backend.script_flush()
    assert [m["data"] for m in client.read()["ch"]] == ["before", "after"]  # a pipeline


def test_a_batch_resends_only_what_met_noscript(real_redis: Any) -> None:
    batch = scripts.Batch()
    batch.command("incr", "counter")
    batch.script(scripts.INFO, keys.channel_keys("nope")[:5], [])
    real_redis.script_flush()
    assert batch.execute(real_redis) == [1, [0]]
    assert real_redis.get("counter") == b"1"  # the INCR ran once


@pytest.mark.parametrize("trouble", [KeyboardInterrupt(),
                                     AttributeError("'NoneType' object has no attribute "
                                                    "'readline'")])
def test_an_interrupted_batch_drops_the_pools_idle_connections(
    real_redis: Any, monkeypatch: pytest.MonkeyPatch, trouble: BaseException
) -> None:
    # Interrupted between its send and its replies, a pipeline hands its
    # connection back with the replies on their way: a later call must not
    # read them as its own. redis-py's own trouble comes out as rivulet's.
    from redis.client import Pipeline

    from rivulet.retry import RetryPolicy

    real_redis.ping()
    pool = real_redis.connection_pool
    real_execute = Pipeline.execute

    def send_then_fail(self: Any, *args: Any, **kwargs: Any) -> Any:
        real_execute(self, *args, **kwargs)
        raise trouble

    monkeypatch.setattr(Pipeline, "execute", send_then_fail)
    batch = scripts.Batch()
    batch.command("incr", "counter")
    expected = KeyboardInterrupt if isinstance(trouble, KeyboardInterrupt) else rivulet.BackendError
    with pytest.raises(expected):
        batch.run(real_redis, RetryPolicy(budget_s=1), "incr")
    idle = list(pool._available_connections)
    assert idle and all(conn._sock is None for conn in idle)
    monkeypatch.undo()
    assert real_redis.incr("counter") == 2  # the first ran once; the pool works on
