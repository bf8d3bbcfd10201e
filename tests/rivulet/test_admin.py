"""Behaviour tests of the management API (SPEC section 4), run on every backend.

Data "written around the library" is spelled with the key names of SPEC
section 2 directly, so these tests hold the library to the documented data
model rather than to its own helpers.
"""

from __future__ import annotations

import dataclasses
import json
import socket
from collections.abc import Callable
from typing import Any

import pytest

import rivulet
from rivulet import (
    Admin,
    BackendError,
    ChannelInfo,
    ChannelNotFoundError,
    InvalidNameError,
    NotSubscribedError,
)
from rivulet import keys as rivulet_keys
from rivulet.names import validate_name

MakeClient = Callable[..., rivulet.Client]

# Valid names (SPEC section 2) that are awkward for globs, URLs, HTML and Redis.
ODD_NAMES = [
    "with space",
    "a/b/c",
    "/leading slash",
    "100%",
    "ns:sub:x",
    "#hash",
    "<script>alert(1)</script>",
    "naïve ☃ 日本語",
    "émoji 🎉",
    "star*name",
    "what?",
    "[brackets]",
    "back\\slash",
    "-",
    "+",
    "a]b",
]


# -- the documented data model (SPEC section 2) -------------------------------


def id_key(channel: str) -> str:
    return f"rvl:id:{{{channel}}}"


def msg_key(channel: str) -> str:
    return f"rvl:msg:{{{channel}}}"


def sub_key(channel: str) -> str:
    return f"rvl:channel:{{{channel}}}"


def index_key(client: str) -> str:
    return f"rvl:index:{client}"


def text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def server_ms(r: Any) -> int:
    """Redis' own clock in ms, as the scripts compute it."""
    reply = r.time()
    if isinstance(reply, dict):  # some cluster clients answer per node
        reply = next(iter(reply.values()))
    seconds, micros = reply
    return int(seconds) * 1000 + int(micros) // 1000


def channel_keys_in_redis(r: Any, channel: str) -> set[str]:
    """Every key carrying the channel's hash tag (a SCAN: test code only)."""
    tag = f"{{{channel}}}"
    return {k for k in (text(k) for k in r.scan_iter(count=1000)) if tag in k}


def all_keys(r: Any) -> set[str]:
    return {text(k) for k in r.scan_iter(count=1000)}


def foreign_message(r: Any, channel: str, message_id: int, ts: int, data: str,
                    src: str = "foreign", *, raise_head: bool = True) -> None:
    """Store one message the way another client following SPEC section 2 would."""
    member = json.dumps({"id": message_id, "ts": ts, "src": src, "data": data})
    r.zadd(msg_key(channel), {member: message_id})
    if raise_head:
        head = int(r.get(id_key(channel)) or 0)
        if message_id > head:
            r.set(id_key(channel), message_id)


def foreign_index(r: Any, channel: str, client: str, index: int) -> None:
    """Place a subscriber's index in the authority and its mirror, as SPEC section 2 says."""
    r.zadd(sub_key(channel), {client: index})
    r.zadd(index_key(client), {channel: index})


def glob_escape(name: str) -> str:
    """A glob matching exactly ``name`` (``[x]`` escapes work in every glob dialect)."""
    return "".join(f"[{ch}]" if ch in "*?[" else ch for ch in name)


def names(rows: list[ChannelInfo]) -> list[str]:
    return [row.name for row in rows]


def by_client(rows: list[Any]) -> dict[str, Any]:
    return {row.client_id: row for row in rows}


def snapshot(r: Any) -> dict[str, Any]:
    """Every key with its type and value, to prove that a call wrote nothing."""
    state: dict[str, Any] = {}
    for key in all_keys(r):
        kind = text(r.type(key))
        if kind == "string":
            value: Any = r.get(key)
        elif kind == "zset":
            value = r.zrange(key, 0, -1, withscores=True)
        elif kind == "hash":
            value = sorted(r.hgetall(key).items())
        elif kind == "list":
            value = r.lrange(key, 0, -1)
        elif kind == "set":
            value = sorted(r.smembers(key))
        else:
            value = None
        state[key] = (kind, value)
    return state


def channel_with(make_client: MakeClient, channel: str, messages: int,
                 client_id: str = "writer") -> rivulet.Client:
    """A channel whose only subscriber wrote ``messages`` messages and read none."""
    writer = make_client(client_id)
    writer.subscribe(channel)
    if messages:
        writer.write(channel, [f"m{i}" for i in range(1, messages + 1)])
    return writer


# -- channels(): sorting, globs, paging ---------------------------------------


def test_channels_sorted_by_name_including_odd_names(admin: Admin,
                                                     make_client: MakeClient) -> None:
    plain = ["zeta", "alpha", "Beta", "mid/one", "demo/sensors #1", "demo/logs 100%"]
    client = make_client("c")
    client.subscribe(plain + ODD_NAMES)
    assert names(admin.channels()) == sorted(plain + ODD_NAMES)
    assert admin.channel_count() == len(plain + ODD_NAMES)


@pytest.mark.parametrize("name", ODD_NAMES)
def test_odd_name_works_end_to_end(admin: Admin, make_client: MakeClient, name: str) -> None:
    client = make_client("c")
    client.subscribe([name, "zz-other"])
    (first,) = client.write(name, "hello")
    assert names(admin.channels(match=glob_escape(name))) == [name]
    assert admin.channel_count(match=glob_escape(name)) == 1
    info = admin.channel(name)
    assert (info.name, info.head_id, info.message_count) == (name, 1, 1)
    assert [s.client_id for s in admin.subscribers(name)] == ["c"]
    assert admin.clients()[0].channels == {name: 0, "zz-other": 0}
    assert [m["data"] for m in admin.messages(name)] == ["hello"]
    assert admin.post(name, "from ops") == first + 1
    assert admin.count(name) == 2
    assert admin.delete_channel(name) is True
    assert channel_keys_in_redis(admin.redis, name) == set()
    assert names(admin.channels()) == ["zz-other"]


def test_match_glob_wildcards(admin: Admin, make_client: MakeClient) -> None:
    make_client("c").subscribe(
        ["demo/a", "demo/b", "demo/sensors #1", "demox", "other", "x/demo/y"]
    )
    assert names(admin.channels(match="demo/*")) == ["demo/a", "demo/b", "demo/sensors #1"]
    assert names(admin.channels(match="*demo*")) == [
        "demo/a", "demo/b", "demo/sensors #1", "demox", "x/demo/y"
    ]
    assert names(admin.channels(match="demo/?")) == ["demo/a", "demo/b"]
    assert names(admin.channels(match="demo/[b-z]")) == ["demo/b"]
    assert names(admin.channels(match="*#1")) == ["demo/sensors #1"]
    assert names(admin.channels(match="nothing*")) == []
    assert len(admin.channels(match="*")) == 6
    assert admin.channel_count(match="demo/*") == 3
    assert admin.channel_count(match="nothing*") == 0


def test_match_treats_glob_specials_in_names_literally_when_escaped(
    admin: Admin, make_client: MakeClient
) -> None:
    make_client("c").subscribe(["star*name", "starXname", "what?", "whatX", "[brackets]", "b"])
    assert names(admin.channels(match="star[*]name")) == ["star*name"]
    assert names(admin.channels(match="star*name")) == ["star*name", "starXname"]
    assert names(admin.channels(match="what[?]")) == ["what?"]
    assert names(admin.channels(match="[[]brackets]")) == ["[brackets]"]


def test_match_prefix_followed_by_highest_code_point(admin: Admin,
                                                     make_client: MakeClient) -> None:
    # U+10FFFF is a valid name character; a name continuing after it still
    # starts with the glob's literal prefix.
    top = "\U0010ffff"
    wanted = ["p", "pz", f"p{top}", f"p{top}z"]  # sorted by code point
    make_client("c").subscribe([*wanted, "q", "o\U0010ffff"])
    assert names(admin.channels(match="p*")) == wanted
    assert names(admin.channels()) == sorted([*wanted, "q", "o\U0010ffff"])
    assert admin.channel_count(match="p*") == 4


def test_offset_limit_paging(admin: Admin, make_client: MakeClient) -> None:
    all_names = [f"c{i:02d}" for i in range(10)]
    make_client("c").subscribe(all_names)
    assert names(admin.channels(offset=3, limit=4)) == all_names[3:7]
    assert names(admin.channels(offset=8)) == all_names[8:]
    assert names(admin.channels(limit=2)) == all_names[:2]
    assert admin.channels(offset=10, limit=5) == []
    assert admin.channels(limit=0) == []
    rows, total = admin.channel_page(offset=3, limit=4)
    assert (names(rows), total) == (all_names[3:7], 10)
    rows, total = admin.channel_page(match="c0[0-4]", offset=1, limit=2)
    assert (names(rows), total) == (["c01", "c02"], 5)
    rows, total = admin.channel_page(match="c0[0-4]", offset=4, limit=10)
    assert (names(rows), total) == (["c04"], 5)
    rows, total = admin.channel_page(offset=50, limit=10)
    assert (rows, total) == ([], 10)
    # Walking the pages visits every channel once, in order.
    seen = []
    for offset in range(0, 10, 3):
        seen += names(admin.channels(offset=offset, limit=3))
    assert seen == all_names
    with pytest.raises(ValueError):
        admin.channels(offset=-1)
    with pytest.raises(ValueError):
        admin.channels(limit=-1)


def test_channel_count_follows_creation_and_deletion(admin: Admin,
                                                     make_client: MakeClient) -> None:
    assert admin.channel_count() == 0
    assert admin.channels() == []
    a, b = make_client("a"), make_client("b")
    a.subscribe(["one", "two", "three"])
    b.subscribe("three")
    admin.post("four", "x", create=True)
    assert admin.channel_count() == 4
    a.unsubscribe("one")  # last subscriber left: deleted
    admin.delete_channel("four")
    admin.remove_subscriber("two", "a")  # last subscriber removed: deleted
    assert names(admin.channels()) == ["three"]
    assert admin.channel_count() == 1


# -- ChannelInfo ----------------------------------------------------------------


def test_channel_info_before_first_write(admin: Admin, make_client: MakeClient) -> None:
    make_client("c").subscribe("fresh")
    assert admin.channel("fresh") == ChannelInfo(
        name="fresh", head_id=0, message_count=0, oldest_id=None, newest_id=None,
        oldest_ts=None, newest_ts=None, subscriber_count=1, max_lag=0,
        max_lag_seconds=0.0, last_write_ts=None, max_messages=None, max_age=None, error=None,
    )
    assert admin.channels() == [admin.channel("fresh")]


def test_channel_info_with_a_lagging_subscriber(admin: Admin, backend: Any,
                                                make_client: MakeClient) -> None:
    a, b = make_client("a"), make_client("b")
    a.subscribe("ch")
    b.subscribe("ch")
    a.write("ch", ["m1", "m2"])
    a.write("ch", "m3")
    b.read()  # b is caught up; a never reads
    stored = admin.messages("ch", newest_first=False)
    assert [m["id"] for m in stored] == [1, 2, 3]
    before = server_ms(backend)
    info = admin.channel("ch")
    after = server_ms(backend)
    assert info.name == "ch"
    assert info.head_id == 3
    assert info.message_count == 3
    assert (info.oldest_id, info.newest_id) == (1, 3)
    assert (info.oldest_ts, info.newest_ts) == (stored[0]["ts"], stored[2]["ts"])
    assert info.subscriber_count == 2
    assert info.max_lag == 3
    assert (before - stored[0]["ts"]) / 1000 <= info.max_lag_seconds
    assert info.max_lag_seconds <= (after - stored[0]["ts"]) / 1000
    assert info.last_write_ts == stored[2]["ts"]
    assert info.error is None
    # The row in the listing carries the same numbers.
    (row,) = admin.channels()
    assert row.head_id == 3 and row.max_lag == 3 and row.message_count == 3


def test_max_lag_seconds_is_age_of_oldest_message_someone_has_not_read(
    admin: Admin, backend: Any, make_client: MakeClient
) -> None:
    a, b = make_client("a"), make_client("b")
    a.subscribe("ch")
    b.subscribe("ch")
    now = server_ms(backend)
    # Ids and timestamps grow together, as the write script stamps them.
    for message_id, age_ms in ((1, 900_000), (2, 600_000), (3, 300_000)):
        foreign_message(backend, "ch", message_id, now - age_ms, f"m{message_id}")
    foreign_index(backend, "ch", "a", 1)  # a has not read 2 and 3
    foreign_index(backend, "ch", "b", 3)
    before = server_ms(backend)
    info = admin.channel("ch")
    after = server_ms(backend)
    assert info.max_lag == 2
    assert (before - (now - 600_000)) / 1000 <= info.max_lag_seconds
    assert info.max_lag_seconds <= (after - (now - 600_000)) / 1000


def test_max_lag_is_zero_without_subscribers(admin: Admin) -> None:
    admin.post("lonely", "one", create=True)
    admin.post("lonely", "two")
    info = admin.channel("lonely")
    assert (info.head_id, info.message_count, info.subscriber_count) == (2, 2, 0)
    assert info.max_lag == 0
    assert info.max_lag_seconds == 0.0


def test_max_lag_is_zero_when_everyone_has_read(admin: Admin, make_client: MakeClient) -> None:
    a = channel_with(make_client, "ch", 3, "a")
    a.read()
    info = admin.channel("ch")
    assert (info.head_id, info.max_lag, info.max_lag_seconds) == (3, 0, 0.0)
    assert (info.message_count, info.oldest_id, info.newest_id) == (0, None, None)
    assert (info.oldest_ts, info.newest_ts) == (None, None)


def test_last_write_ts_survives_pruning(admin: Admin, make_client: MakeClient) -> None:
    channel_with(make_client, "ch", 3)
    newest_ts = admin.messages("ch", limit=1)[0]["ts"]
    assert admin.channel("ch").last_write_ts == newest_ts
    assert admin.prune("ch", older_than=0) == 3
    info = admin.channel("ch")
    assert info.message_count == 0
    assert (info.oldest_id, info.newest_id, info.oldest_ts, info.newest_ts) == (
        None, None, None, None
    )
    assert info.head_id == 3
    assert info.last_write_ts == newest_ts


def test_last_write_ts_follows_post(admin: Admin, make_client: MakeClient) -> None:
    channel_with(make_client, "ch", 1)
    admin.post("ch", "ops")
    newest = admin.messages("ch", limit=1)[0]
    assert newest["data"] == "ops"
    assert admin.channel("ch").last_write_ts == newest["ts"]


def test_channel_unknown(admin: Admin, make_client: MakeClient) -> None:
    make_client("c").subscribe("known")
    with pytest.raises(ChannelNotFoundError) as caught:
        admin.channel("unknown")
    assert caught.value.channel == "unknown"
    assert isinstance(caught.value, KeyError)


UNKNOWN_CHANNEL_CALLS: dict[str, Callable[[Admin], Any]] = {
    "channel": lambda a: a.channel("ghost"),
    "subscribers": lambda a: a.subscribers("ghost"),
    "set_index id": lambda a: a.set_index("ghost", "c", 0),
    "set_index latest": lambda a: a.set_index("ghost", "c", "latest"),
    "set_index earliest": lambda a: a.set_index("ghost", "c", "earliest"),
    "remove_subscriber": lambda a: a.remove_subscriber("ghost", "c"),
    "count": lambda a: a.count("ghost"),
    "messages": lambda a: a.messages("ghost"),
    "prune upto_id": lambda a: a.prune("ghost", upto_id=1),
    "prune older_than": lambda a: a.prune("ghost", older_than=0),
    "prune consumed": lambda a: a.prune("ghost", consumed=True),
    "prune keep_last": lambda a: a.prune("ghost", keep_last=0),
    "set_retention": lambda a: a.set_retention("ghost", max_messages=1),
    "set_retention clear": lambda a: a.set_retention("ghost"),
    "post": lambda a: a.post("ghost", "data"),
}


@pytest.mark.parametrize("call", UNKNOWN_CHANNEL_CALLS.values(), ids=UNKNOWN_CHANNEL_CALLS)
def test_every_call_on_an_unknown_channel_raises(admin: Admin, backend: Any,
                                                 make_client: MakeClient,
                                                 call: Callable[[Admin], Any]) -> None:
    make_client("c").subscribe("known")
    before = snapshot(backend)
    with pytest.raises(ChannelNotFoundError) as caught:
        call(admin)
    assert caught.value.channel == "ghost"
    # A refused call leaves nothing behind.
    assert snapshot(backend) == before


def test_invalid_names_are_refused(admin: Admin) -> None:
    for bad in ("a{b", "}", ".", "..", "", "x" * 201, "tab\there"):
        with pytest.raises(InvalidNameError):
            admin.channel(bad)
        with pytest.raises(InvalidNameError):
            admin.post(bad, "x", create=True)
    with pytest.raises(InvalidNameError):
        admin.set_index("ok", "bad{client}", 0)


# -- delete_channel -----------------------------------------------------------------


def test_delete_channel_removes_every_key_and_index_entry(admin: Admin, backend: Any,
                                                          make_client: MakeClient) -> None:
    a, b, only = make_client("a"), make_client("b"), make_client("only")
    a.subscribe(["doomed", "kept"])
    b.subscribe(["doomed", "kept"])
    only.subscribe("doomed")
    a.write("doomed", ["1", "2", "3"])
    a.write("kept", ["k1", "k2"])
    b.read(message_limit=1)
    admin.set_retention("doomed", max_messages=100)
    # Every kind of key the channel can have exists before the delete.
    doomed_keys = channel_keys_in_redis(backend, "doomed")
    for key in (id_key("doomed"), msg_key("doomed"), sub_key("doomed")):
        assert key in doomed_keys
    # ... and so do more of the library's own (retention caps, read times).
    assert len(doomed_keys) > 3
    kept_before = snapshot(backend)
    kept_before = {k: v for k, v in kept_before.items() if "{kept}" in k}

    assert admin.delete_channel("doomed") is True

    assert channel_keys_in_redis(backend, "doomed") == set()
    for client in ("a", "b", "only"):
        assert backend.zscore(index_key(client), "doomed") is None
    assert backend.zscore(index_key("a"), "kept") is not None
    assert not backend.exists(index_key("only"))
    assert names(admin.channels()) == ["kept"]
    assert admin.channel_count() == 1
    assert sorted(c.client_id for c in admin.clients()) == ["a", "b"]
    assert a.subscriptions == ["kept"]
    with pytest.raises(ChannelNotFoundError):
        admin.channel("doomed")
    # The other channel is untouched, counter included.
    after = {k: v for k, v in snapshot(backend).items() if "{kept}" in k}
    assert after == kept_before
    assert a.write("kept", "k3") == [3]


def test_delete_channel_removes_the_seed_lock_key(admin: Admin, backend: Any,
                                                 make_client: MakeClient) -> None:
    # rvl:lock:{C} is one of the channel's five documented keys; data left by
    # a seed-era client may still hold it.
    channel_with(make_client, "old", 2)
    backend.set("rvl:lock:{old}", "held-by-a-seed-client")
    assert admin.delete_channel("old") is True
    assert channel_keys_in_redis(backend, "old") == set()


def test_delete_unknown_channel_returns_false(admin: Admin, backend: Any,
                                              make_client: MakeClient) -> None:
    make_client("c").subscribe("known")
    before = snapshot(backend)
    assert admin.delete_channel("ghost") is False
    assert snapshot(backend) == before


def test_delete_channel_without_subscribers(admin: Admin, backend: Any) -> None:
    admin.post("posted", "x", create=True)
    assert admin.delete_channel("posted") is True
    assert channel_keys_in_redis(backend, "posted") == set()
    assert admin.channels() == []
    assert admin.delete_channel("posted") is False


def test_other_operations_never_reset_the_id_counter(admin: Admin, backend: Any,
                                                     make_client: MakeClient) -> None:
    a, b = make_client("a"), make_client("b")
    a.subscribe(["ch", "other"])
    b.subscribe("ch")
    a.write("ch", ["1", "2", "3", "4", "5"])

    def head() -> int:
        assert int(backend.get(id_key("ch"))) == admin.channel("ch").head_id
        return admin.channel("ch").head_id

    steps: list[Callable[[], Any]] = [
        lambda: admin.prune("ch", older_than=0),
        lambda: admin.prune("ch", keep_last=0),
        lambda: admin.set_retention("ch", max_messages=0),
        lambda: admin.set_retention("ch"),
        lambda: admin.set_index("ch", "b", "latest"),
        lambda: admin.set_index("ch", "b", 0),
        lambda: admin.set_index("ch", "a", "earliest"),
        lambda: admin.remove_subscriber("ch", "b"),
        lambda: admin.delete_channel("other"),
        lambda: admin.rebuild_registry(),
        lambda: a.read(),
    ]
    expected = 5
    for step in steps:
        step()
        assert head() == expected
        (issued,) = a.write("ch", "next")
        expected += 1
        assert issued == expected


# -- subscribers() ------------------------------------------------------------------


def test_subscribers_index_lag_pending_and_read_times(admin: Admin, backend: Any,
                                                      make_client: MakeClient) -> None:
    never, partly, fully = make_client("never"), make_client("partly"), make_client("fully")
    for client in (never, partly, fully):
        client.subscribe("ch")
    never.write("ch", ["m1", "m2", "m3", "m4", "m5"])
    ts = {m["id"]: m["ts"] for m in admin.messages("ch")}
    before_read = server_ms(backend)
    partly.read(message_limit=2)
    fully.read()
    after_read = server_ms(backend)

    before = server_ms(backend)
    rows = by_client(admin.subscribers("ch"))
    after = server_ms(backend)
    assert sorted(rows) == ["fully", "never", "partly"]
    for row in rows.values():
        assert row.channel == "ch"

    n = rows["never"]
    assert (n.index, n.lag, n.pending, n.last_read_ts, n.beyond_head) == (0, 5, 5, None, False)
    assert (before - ts[1]) / 1000 <= n.lag_seconds <= (after - ts[1]) / 1000

    p = rows["partly"]
    assert (p.index, p.lag, p.pending, p.beyond_head) == (2, 3, 3, False)
    assert (before - ts[3]) / 1000 <= p.lag_seconds <= (after - ts[3]) / 1000
    assert p.last_read_ts is not None
    assert before_read <= p.last_read_ts <= after_read

    f = rows["fully"]
    assert (f.index, f.lag, f.pending, f.lag_seconds, f.beyond_head) == (5, 0, 0, 0.0, False)
    assert f.last_read_ts is not None
    assert before_read <= f.last_read_ts <= after_read


def test_last_read_ts_is_set_by_a_read_that_finds_nothing(admin: Admin, backend: Any,
                                                          make_client: MakeClient) -> None:
    reader = make_client("reader")
    reader.subscribe("ch")
    assert admin.subscribers("ch")[0].last_read_ts is None
    before = server_ms(backend)
    assert reader.read() == {}
    after = server_ms(backend)
    last = admin.subscribers("ch")[0].last_read_ts
    assert last is not None and before <= last <= after


def test_pending_below_lag_after_unread_messages_are_pruned(admin: Admin,
                                                            make_client: MakeClient) -> None:
    a, b = make_client("a"), make_client("b")
    a.subscribe("ch")
    b.subscribe("ch")
    a.write("ch", [f"m{i}" for i in range(1, 9)])
    b.read(message_limit=2)
    assert admin.prune("ch", upto_id=5) == 5
    rows = by_client(admin.subscribers("ch"))
    assert (rows["a"].lag, rows["a"].pending, rows["a"].pruned_unread) == (8, 3, 5)
    assert (rows["b"].lag, rows["b"].pending, rows["b"].pruned_unread) == (6, 3, 3)
    # Both have message 6 as their oldest pending one, seen at the same instant.
    assert rows["a"].lag_seconds == rows["b"].lag_seconds
    info = admin.channel("ch")
    assert (info.max_lag, info.message_count, info.oldest_id) == (8, 3, 6)


def test_lag_seconds_zero_when_nothing_pending(admin: Admin, backend: Any,
                                               make_client: MakeClient) -> None:
    channel_with(make_client, "ch", 4, "a")
    admin.prune("ch", upto_id=4)
    # Without history nothing tells how long ago (test_history.py has the rest).
    backend.delete(rivulet_keys.history_key("ch"))
    (row,) = admin.subscribers("ch")
    assert (row.lag, row.pending, row.lag_seconds) == (4, 0, 0.0)
    assert admin.channel("ch").max_lag_seconds == 0.0


def test_subscriber_beyond_head(admin: Admin, backend: Any, make_client: MakeClient) -> None:
    a = channel_with(make_client, "ch", 3, "a")
    # Crafted as a stale mirror or a recreated channel would leave it.
    backend.zadd(sub_key("ch"), {"ahead": 7})
    rows = by_client(admin.subscribers("ch"))
    ahead = rows["ahead"]
    assert (ahead.index, ahead.lag, ahead.pending, ahead.beyond_head) == (7, 0, 0, True)
    assert ahead.status == "beyond head"
    assert rows["a"].beyond_head is False
    assert admin.channel("ch").max_lag == 3
    # The next write moves it down to the head first: nothing written is skipped.
    a.write("ch", "m4")
    ahead = by_client(admin.subscribers("ch"))["ahead"]
    assert (ahead.index, ahead.lag, ahead.pending, ahead.beyond_head) == (3, 1, 1, False)


def test_subscriber_status_values(admin: Admin, make_client: MakeClient) -> None:
    never, reader, done = make_client("never"), make_client("reader"), make_client("done")
    for client in (never, reader, done):
        client.subscribe("ch")
    never.write("ch", ["1", "2", "3"])
    reader.read(message_limit=1)
    done.read()
    rows = by_client(admin.subscribers("ch"))
    assert rows["done"].status == "caught up"
    # Not a window of history yet, and new: judged later (test_history.py).
    assert rows["reader"].status == "behind"
    assert rows["never"].status == "behind"


def test_subscribers_unknown_in_many_are_left_out(admin: Admin,
                                                  make_client: MakeClient) -> None:
    channel_with(make_client, "a", 1, "x")
    channel_with(make_client, "b", 2, "y")
    result = admin.subscribers_many(["a", "ghost", "b"])
    assert sorted(result) == ["a", "b"]
    assert [r.lag for r in result["b"]] == [2]


# -- clients() ------------------------------------------------------------------------


def test_clients_with_channels_and_lags(admin: Admin, make_client: MakeClient) -> None:
    zed, amy = make_client("zed"), make_client("amy")
    zed.subscribe(["x", "y"])
    amy.subscribe("x")
    zed.write("x", ["1", "2", "3"])
    zed.write("y", ["1"])
    amy.read(message_limit=1)
    rows = admin.clients()
    assert [c.client_id for c in rows] == ["amy", "zed"]
    amy_row, zed_row = rows
    assert amy_row.channels == {"x": 1}
    assert amy_row.lags == {"x": 2}
    assert zed_row.channels == {"x": 0, "y": 0}
    assert zed_row.lags == {"x": 3, "y": 1}
    assert (amy_row.max_lag, zed_row.max_lag) == (2, 3)
    assert admin.client_count() == 2
    assert [c.client_id for c in admin.clients(offset=1, limit=1)] == ["zed"]


def test_clients_lag_is_zero_beyond_head(admin: Admin, backend: Any,
                                         make_client: MakeClient) -> None:
    channel_with(make_client, "ch", 2, "a")
    foreign_index(backend, "ch", "ahead", 9)
    admin.rebuild_registry()
    rows = {c.client_id: c for c in admin.clients()}
    assert rows["ahead"].channels == {"ch": 9}
    assert rows["ahead"].lags == {"ch": 0}
    assert rows["a"].lags == {"ch": 2}


# -- set_index ----------------------------------------------------------------------------


def test_set_index_to_an_id(admin: Admin, backend: Any, make_client: MakeClient) -> None:
    a, b = make_client("a"), make_client("b")
    a.subscribe("ch")
    b.subscribe("ch")
    a.write("ch", [f"m{i}" for i in range(1, 6)])
    b.read()
    assert admin.set_index("ch", "a", 3) == 3
    rows = by_client(admin.subscribers("ch"))
    assert (rows["a"].index, rows["a"].lag, rows["a"].pending) == (3, 2, 2)
    # The mirror follows the authority before the call returns.
    assert backend.zscore(index_key("a"), "ch") == 3
    assert {c.client_id: c.channels for c in admin.clients()}["a"] == {"ch": 3}
    # Moving forward pruned what everyone has now read.
    assert admin.count("ch") == 2
    assert [m["data"] for m in a.read()["ch"]] == ["m4", "m5"]


def test_set_index_forward_prunes_only_what_all_have_read(admin: Admin,
                                                          make_client: MakeClient) -> None:
    a, b = make_client("a"), make_client("b")
    a.subscribe("ch")
    b.subscribe("ch")
    a.write("ch", [f"m{i}" for i in range(1, 6)])
    b.read(message_limit=2)
    assert admin.count("ch") == 5
    admin.set_index("ch", "a", 4)
    assert admin.count("ch") == 3  # b is at 2: messages 3..5 stay
    assert [m["id"] for m in admin.messages("ch", newest_first=False)] == [3, 4, 5]


def test_set_index_backward_keeps_the_counter_and_prunes_nothing(
    admin: Admin, make_client: MakeClient
) -> None:
    a, b = make_client("a"), make_client("b")
    a.subscribe("ch")
    b.subscribe("ch")
    a.write("ch", [f"m{i}" for i in range(1, 6)])
    b.read(message_limit=2)
    a.read()
    assert admin.count("ch") == 3
    assert admin.set_index("ch", "a", 0) == 0
    rows = by_client(admin.subscribers("ch"))
    assert (rows["a"].lag, rows["a"].pending, rows["a"].pruned_unread) == (5, 3, 2)
    assert admin.channel("ch").head_id == 5
    assert admin.count("ch") == 3


def test_set_index_earliest_and_latest(admin: Admin, make_client: MakeClient) -> None:
    a, b = make_client("a"), make_client("b")
    a.subscribe("ch")
    b.subscribe("ch")
    a.write("ch", [f"m{i}" for i in range(1, 7)])
    admin.prune("ch", upto_id=2)
    assert admin.set_index("ch", "a", "latest") == 6
    assert by_client(admin.subscribers("ch"))["a"].lag == 0
    assert admin.set_index("ch", "a", "earliest") == 2
    rows = by_client(admin.subscribers("ch"))
    assert (rows["a"].index, rows["a"].lag, rows["a"].pending) == (2, 4, 4)
    assert admin.set_index("ch", "a", rivulet.IndexPolicy.LATEST) == 6
    assert admin.set_index("ch", "a", "EARLIEST") == 2
    assert [m["id"] for m in a.read()["ch"]] == [3, 4, 5, 6]


def test_set_index_earliest_with_nothing_stored_is_the_head(admin: Admin,
                                                            make_client: MakeClient) -> None:
    a = channel_with(make_client, "ch", 3, "a")
    a.read()
    assert admin.count("ch") == 0
    assert admin.set_index("ch", "a", "earliest") == 3


def test_set_index_refuses_ids_outside_zero_to_head(admin: Admin, backend: Any,
                                                    make_client: MakeClient) -> None:
    channel_with(make_client, "ch", 3, "a")
    before = snapshot(backend)
    for bad in (-1, 4, 1000):
        with pytest.raises(ValueError):
            admin.set_index("ch", "a", bad)
    assert snapshot(backend) == before
    assert admin.set_index("ch", "a", 3) == 3  # the head itself is allowed
    assert admin.set_index("ch", "a", 0) == 0


def test_set_index_refuses_an_unsubscribed_client(admin: Admin, backend: Any,
                                                  make_client: MakeClient) -> None:
    channel_with(make_client, "ch", 3, "a")
    make_client("elsewhere").subscribe("other")
    before = snapshot(backend)
    with pytest.raises(NotSubscribedError):
        admin.set_index("ch", "elsewhere", 1)
    with pytest.raises(NotSubscribedError):
        admin.set_index("ch", "nobody", "latest")
    assert snapshot(backend) == before


def test_set_index_refuses_bad_policies(admin: Admin, make_client: MakeClient) -> None:
    channel_with(make_client, "ch", 3, "a")
    for bad in ("current", "bogus", ""):
        with pytest.raises(ValueError):
            admin.set_index("ch", "a", bad)
    with pytest.raises(TypeError):
        admin.set_index("ch", "a", True)


# -- remove_subscriber ---------------------------------------------------------------------


def test_remove_subscriber(admin: Admin, backend: Any, make_client: MakeClient) -> None:
    a, b = make_client("a"), make_client("b")
    a.subscribe(["ch", "other"])
    b.subscribe("ch")
    a.write("ch", ["1", "2", "3"])
    a.read()
    assert admin.count("ch") == 3  # b has not read them
    assert admin.remove_subscriber("ch", "b") is True
    assert [s.client_id for s in admin.subscribers("ch")] == ["a"]
    assert backend.zscore(index_key("b"), "ch") is None
    assert [c.client_id for c in admin.clients()] == ["a"]
    # As with unsubscribe, what every remaining subscriber has read goes.
    assert admin.count("ch") == 0
    assert admin.channel("ch").head_id == 3
    assert admin.remove_subscriber("ch", "b") is False
    assert admin.remove_subscriber("ch", "never-was") is False


def test_remove_subscriber_matches_unsubscribe(admin: Admin, backend: Any,
                                               make_client: MakeClient) -> None:
    def build(channel: str) -> tuple[rivulet.Client, rivulet.Client]:
        a, b = make_client(f"a-{channel}"), make_client(f"b-{channel}")
        a.subscribe(channel)
        b.subscribe(channel)
        a.write(channel, ["1", "2", "3", "4"])
        a.read(message_limit=3)
        return a, b

    build("by-admin")
    _, b = build("by-self")
    admin.remove_subscriber("by-admin", "b-by-admin")
    b.unsubscribe("by-self")

    def shape(channel: str) -> tuple[Any, ...]:
        info = admin.channel(channel)
        subs = [(s.index, s.lag, s.pending) for s in admin.subscribers(channel)]
        return (info.head_id, info.message_count, info.oldest_id, info.subscriber_count,
                info.max_lag, subs)

    assert shape("by-admin") == shape("by-self")
    assert backend.zscore(index_key("b-by-admin"), "by-admin") is None


def test_removing_the_last_subscriber_deletes_the_channel(admin: Admin, backend: Any,
                                                          make_client: MakeClient) -> None:
    a = channel_with(make_client, "ch", 3, "a")
    a.subscribe("other")
    assert admin.remove_subscriber("ch", "a") is True
    assert channel_keys_in_redis(backend, "ch") == set()
    with pytest.raises(ChannelNotFoundError):
        admin.channel("ch")
    assert names(admin.channels()) == ["other"]
    assert admin.channel_count() == 1
    assert a.subscriptions == ["other"]
    assert admin.clients()[0].channels == {"other": 0}


# -- count and messages --------------------------------------------------------------------


def test_count(admin: Admin, make_client: MakeClient) -> None:
    channel_with(make_client, "ch", 0)
    assert admin.count("ch") == 0
    channel_with(make_client, "ch2", 7)
    assert admin.count("ch2") == 7
    admin.prune("ch2", upto_id=3)
    assert admin.count("ch2") == 4 == admin.channel("ch2").message_count


def test_messages_paging_both_ways(admin: Admin, make_client: MakeClient) -> None:
    channel_with(make_client, "ch", 10, "w")

    def ids(**kwargs: Any) -> list[int]:
        return [m["id"] for m in admin.messages("ch", **kwargs)]

    assert ids() == list(range(10, 0, -1))
    assert ids(limit=3) == [10, 9, 8]
    assert ids(after_id=7) == [10, 9, 8]
    assert ids(before_id=4) == [3, 2, 1]
    assert ids(after_id=3, before_id=7) == [6, 5, 4]
    assert ids(before_id=8, limit=3) == [7, 6, 5]
    assert ids(newest_first=False) == list(range(1, 11))
    assert ids(newest_first=False, limit=4) == [1, 2, 3, 4]
    assert ids(newest_first=False, after_id=4, limit=3) == [5, 6, 7]
    assert ids(newest_first=False, after_id=2, before_id=5) == [3, 4]
    assert ids(after_id=10) == []
    assert ids(before_id=1) == []
    assert ids(limit=0) == []
    first = admin.messages("ch", newest_first=False, limit=1)[0]
    assert set(first) == {"id", "ts", "src", "data"}
    assert (first["id"], first["src"], first["data"]) == (1, "w", "m1")
    assert isinstance(first["ts"], int)


def test_messages_default_limit_is_fifty(admin: Admin, make_client: MakeClient) -> None:
    channel_with(make_client, "ch", 60)
    got = admin.messages("ch")
    assert len(got) == 50
    assert got[0]["id"] == 60 and got[-1]["id"] == 11


def test_messages_of_an_emptied_channel(admin: Admin, make_client: MakeClient) -> None:
    channel_with(make_client, "ch", 3).read()
    assert admin.messages("ch") == []


# -- prune ----------------------------------------------------------------------------------


def test_prune_upto_id(admin: Admin, make_client: MakeClient) -> None:
    channel_with(make_client, "ch", 10)
    assert admin.prune("ch", upto_id=3) == 3
    assert admin.prune("ch", upto_id=3) == 0
    assert admin.prune("ch", upto_id=0) == 0
    info = admin.channel("ch")
    assert (info.message_count, info.oldest_id, info.head_id) == (7, 4, 10)


def test_prune_keep_last(admin: Admin, make_client: MakeClient) -> None:
    channel_with(make_client, "ch", 10)
    assert admin.prune("ch", keep_last=20) == 0
    assert admin.prune("ch", keep_last=4) == 6
    assert [m["id"] for m in admin.messages("ch")] == [10, 9, 8, 7]
    assert admin.prune("ch", keep_last=0) == 4
    assert admin.count("ch") == 0
    assert admin.channel("ch").head_id == 10


def test_prune_older_than(admin: Admin, backend: Any, make_client: MakeClient) -> None:
    writer = channel_with(make_client, "ch", 0)
    now = server_ms(backend)
    for message_id, age_s in ((1, 7200), (2, 3600), (3, 1800), (4, 1200)):
        foreign_message(backend, "ch", message_id, now - age_s * 1000, f"m{message_id}")
    writer.write("ch", "fresh")
    assert admin.prune("ch", older_than=2400) == 2
    assert [m["id"] for m in admin.messages("ch", newest_first=False)] == [3, 4, 5]
    assert admin.prune("ch", older_than=600.5) == 2
    assert [m["data"] for m in admin.messages("ch")] == ["fresh"]


def test_prune_older_than_zero_removes_everything_stored(admin: Admin,
                                                         make_client: MakeClient) -> None:
    writer = channel_with(make_client, "ch", 5)
    assert admin.prune("ch", older_than=0) == 5
    assert admin.count("ch") == 0
    assert writer.write("ch", "again") == [6]


def test_prune_older_than_is_inclusive(admin: Admin, backend: Any,
                                       make_client: MakeClient) -> None:
    channel_with(make_client, "ch", 0)
    now = server_ms(backend)
    foreign_message(backend, "ch", 1, now - 5000, "exactly five seconds old at most")
    foreign_message(backend, "ch", 2, now + 3_600_000, "from the future")
    # The server's clock is at least `now` when prune runs, so message 1 is at
    # least 5 s old; when both land in the same millisecond it is exactly 5 s
    # old, which only an inclusive comparison takes.
    assert admin.prune("ch", older_than=5) == 1
    assert [m["id"] for m in admin.messages("ch")] == [2]


def test_prune_consumed(admin: Admin, backend: Any, make_client: MakeClient) -> None:
    a, b = make_client("a"), make_client("b")
    a.subscribe("ch")
    b.subscribe("ch")
    a.write("ch", [f"m{i}" for i in range(1, 9)])
    # Indexes moved by another client following the data model, which does
    # not prune as it goes.
    foreign_index(backend, "ch", "a", 6)
    foreign_index(backend, "ch", "b", 4)
    assert admin.count("ch") == 8
    assert admin.prune("ch", consumed=True) == 4
    assert [m["id"] for m in admin.messages("ch", newest_first=False)] == [5, 6, 7, 8]
    assert admin.prune("ch", consumed=True) == 0


def test_prune_criteria_combine_as_a_union(admin: Admin, backend: Any,
                                           make_client: MakeClient) -> None:
    channel_with(make_client, "ch", 10, "a")
    assert admin.prune("ch", upto_id=2, keep_last=5) == 5  # keep_last reaches further
    assert admin.count("ch") == 5
    assert admin.prune("ch", upto_id=7, keep_last=5) == 2  # upto_id reaches further
    assert admin.count("ch") == 3
    foreign_index(backend, "ch", "a", 9)
    assert admin.prune("ch", upto_id=1, consumed=True, keep_last=3) == 2
    assert [m["id"] for m in admin.messages("ch")] == [10]


def test_prune_union_with_older_than(admin: Admin, backend: Any,
                                     make_client: MakeClient) -> None:
    writer = channel_with(make_client, "ch", 0)
    now = server_ms(backend)
    for message_id in (1, 2, 3):
        foreign_message(backend, "ch", message_id, now - 3_600_000, f"old{message_id}")
    writer.write("ch", ["new4", "new5", "new6"])
    assert admin.prune("ch", upto_id=1, older_than=60) == 3
    assert admin.prune("ch", upto_id=5, older_than=60) == 2
    assert [m["id"] for m in admin.messages("ch")] == [6]


def test_prune_needs_a_criterion(admin: Admin, backend: Any, make_client: MakeClient) -> None:
    channel_with(make_client, "ch", 3)
    before = snapshot(backend)
    with pytest.raises(ValueError):
        admin.prune("ch")
    with pytest.raises(ValueError):
        admin.prune("ch", consumed=False)
    for bad in ({"upto_id": -1}, {"older_than": -1}, {"keep_last": -2}):
        with pytest.raises(ValueError):
            admin.prune("ch", **bad)
    assert snapshot(backend) == before


# -- post -----------------------------------------------------------------------------------


def test_post_to_an_existing_channel(admin: Admin, backend: Any,
                                     make_client: MakeClient) -> None:
    reader = channel_with(make_client, "ch", 2, "reader")
    reader.read()
    assert admin.post("ch", "hello") == 3
    assert admin.post("ch", "again", src="ops") == 4
    got = reader.read()["ch"]
    assert [(m["id"], m["src"], m["data"]) for m in got] == [
        (3, "dashboard", "hello"), (4, "ops", "again")
    ]
    # The admin needs no subscription and leaves no client behind.
    assert [c.client_id for c in admin.clients()] == ["reader"]
    assert not backend.exists(index_key("dashboard"))


def test_post_to_an_unknown_channel(admin: Admin, backend: Any) -> None:
    with pytest.raises(ChannelNotFoundError):
        admin.post("nowhere", "x")
    assert all_keys(backend) == set()
    assert admin.channels() == []


def test_post_with_create(admin: Admin) -> None:
    assert admin.post("made", "first", create=True) == 1
    assert admin.post("made", "second", create=True) == 2
    assert admin.post("made", "third") == 3
    info = admin.channel("made")
    assert (info.head_id, info.message_count, info.subscriber_count) == (3, 3, 0)
    assert names(admin.channels()) == ["made"]
    assert [m["data"] for m in admin.messages("made")] == ["third", "second", "first"]
    assert admin.clients() == []


def test_post_refuses_a_message_over_the_size_limit(admin: Admin, backend: Any,
                                                    make_client: MakeClient) -> None:
    channel_with(make_client, "ch", 1)
    before = snapshot(backend)
    with pytest.raises(rivulet.MessageTooLargeError):
        admin.post("ch", "x" * (1024 * 1024 + 1))
    assert snapshot(backend) == before
    assert admin.post("ch", "é" * (512 * 1024)) == 2  # exactly 1 MiB of UTF-8


def test_post_refuses_non_text(admin: Admin) -> None:
    with pytest.raises(TypeError):
        admin.post("made", b"bytes", create=True)  # type: ignore[arg-type]
    assert admin.channels() == []


def test_a_channel_without_subscribers_keeps_its_messages(admin: Admin) -> None:
    for i in range(5):
        admin.post("kept", f"m{i}", create=True)
    assert admin.count("kept") == 5
    info = admin.channel("kept")
    assert (info.head_id, info.oldest_id, info.max_lag) == (5, 1, 0)


# -- retention --------------------------------------------------------------------------------


def test_max_messages_enforced_at_once_and_by_later_writes(admin: Admin,
                                                           make_client: MakeClient) -> None:
    writer = channel_with(make_client, "ch", 10)
    assert admin.set_retention("ch", max_messages=3) == 7
    info = admin.channel("ch")
    assert (info.message_count, info.oldest_id, info.max_messages, info.max_age) == (
        3, 8, 3, None
    )
    writer.write("ch", ["11", "12"])
    assert [m["id"] for m in admin.messages("ch")] == [12, 11, 10]
    admin.post("ch", "13")
    assert [m["id"] for m in admin.messages("ch")] == [13, 12, 11]
    # Unread messages were capped: the subscriber's lag shows it.
    (row,) = admin.subscribers("ch")
    assert (row.lag, row.pending, row.pruned_unread) == (13, 3, 10)
    # Clearing the caps lets messages accumulate again.
    assert admin.set_retention("ch") == 0
    assert admin.channel("ch").max_messages is None
    writer.write("ch", ["14", "15"])
    assert admin.count("ch") == 5


def test_max_age_enforced_at_once(admin: Admin, backend: Any, make_client: MakeClient) -> None:
    writer = channel_with(make_client, "ch", 0)
    now = server_ms(backend)
    foreign_message(backend, "ch", 1, now - 7_200_000, "two hours old")
    foreign_message(backend, "ch", 2, now - 3_600_000, "one hour old")
    writer.write("ch", "fresh")
    assert admin.count("ch") == 3  # no caps yet: nothing went
    assert admin.set_retention("ch", max_age=60) == 2
    assert [m["data"] for m in admin.messages("ch")] == ["fresh"]
    info = admin.channel("ch")
    assert (info.max_age, info.max_messages) == (60.0, None)


def test_max_age_enforced_by_later_writes(admin: Admin, backend: Any,
                                          make_client: MakeClient) -> None:
    writer = channel_with(make_client, "ch", 0)
    assert admin.set_retention("ch", max_age=60) == 0
    now = server_ms(backend)
    foreign_message(backend, "ch", 1, now - 3_600_000, "old, written around the library")
    assert admin.count("ch") == 1  # nothing enforces caps until a write
    writer.write("ch", "fresh")
    assert [m["data"] for m in admin.messages("ch")] == ["fresh"]
    # post() is a write too.
    admin.prune("ch", upto_id=2)
    foreign_message(backend, "ch", 3, now - 3_600_000, "old again")
    assert admin.post("ch", "posted") == 4
    assert [m["data"] for m in admin.messages("ch")] == ["posted"]


def test_set_retention_refuses_bad_caps(admin: Admin, make_client: MakeClient) -> None:
    channel_with(make_client, "ch", 3)
    with pytest.raises(ValueError):
        admin.set_retention("ch", max_messages=-1)
    with pytest.raises(ValueError):
        admin.set_retention("ch", max_age=-1)
    assert admin.count("ch") == 3


# -- malformed data -----------------------------------------------------------------------------


def test_non_json_member_is_shown_not_fatal(admin: Admin, backend: Any,
                                            make_client: MakeClient) -> None:
    writer = channel_with(make_client, "ch", 1, "w")
    backend.zadd(msg_key("ch"), {"not json {": 2})
    backend.zadd(msg_key("ch"), {"[1, 2]": 3})
    backend.set(id_key("ch"), 3)
    writer.write("ch", "good")
    got = admin.messages("ch", newest_first=False)
    assert [m["id"] for m in got] == [1, 2, 3, 4]
    assert got[1]["malformed"] is True and got[1]["data"] == "not json {"
    assert got[2]["malformed"] is True and got[2]["data"] == "[1, 2]"
    assert "malformed" not in got[0] and "malformed" not in got[3]
    (row,) = admin.channels()
    assert (row.message_count, row.head_id, row.error) == (4, 4, None)
    first_ts = got[0]["ts"]
    before = server_ms(backend)
    (sub,) = admin.subscribers("ch")
    after = server_ms(backend)
    assert (sub.lag, sub.pending) == (4, 4)
    assert (before - first_ts) / 1000 <= sub.lag_seconds <= (after - first_ts) / 1000


def test_malformed_oldest_message(admin: Admin, backend: Any, make_client: MakeClient) -> None:
    writer = channel_with(make_client, "ch", 0)
    backend.zadd(msg_key("ch"), {"garbage": 1})
    backend.set(id_key("ch"), 1)
    writer.write("ch", "good")
    info = admin.channel("ch")
    assert (info.oldest_id, info.oldest_ts, info.newest_id) == (1, None, 2)
    assert info.newest_ts == admin.messages("ch", limit=1)[0]["ts"]
    (sub,) = admin.subscribers("ch")
    assert (sub.lag, sub.pending) == (2, 2)


def test_a_malformed_member_does_not_stop_age_pruning(admin: Admin, backend: Any,
                                                    make_client: MakeClient) -> None:
    # One unreadable member must not switch off older_than and max_age for
    # good: the old messages stored after it still go (and it, with its lower
    # id, goes with them).
    writer = channel_with(make_client, "ch", 0)
    now = server_ms(backend)
    backend.zadd(msg_key("ch"), {"garbage": 1})
    foreign_message(backend, "ch", 2, now - 7_200_000, "old")
    foreign_message(backend, "ch", 3, now - 3_600_000, "old")
    writer.write("ch", "fresh")
    assert admin.prune("ch", older_than=60) == 3
    assert [m["id"] for m in admin.messages("ch")] == [4]
    admin.prune("ch", upto_id=4)
    backend.zadd(msg_key("ch"), {"garbage again": 5})
    foreign_message(backend, "ch", 6, now - 3_600_000, "old")
    writer.write("ch", "fresh again")
    assert admin.set_retention("ch", max_age=60) == 2
    assert [m["id"] for m in admin.messages("ch")] == [7]


@pytest.mark.parametrize("key_of", [msg_key, id_key, sub_key],
                         ids=["msg-as-string", "id-as-zset", "channel-as-string"])
def test_key_of_the_wrong_type_is_reported_on_the_row(admin: Admin, backend: Any,
                                                      make_client: MakeClient,
                                                      key_of: Callable[[str], str]) -> None:
    channel_with(make_client, "good", 2, "a")
    channel_with(make_client, "broken", 2, "b")
    backend.delete(key_of("broken"))
    if key_of is id_key:
        backend.zadd(key_of("broken"), {"x": 1})
    else:
        backend.set(key_of("broken"), "oops")
    rows = {row.name: row for row in admin.channels()}
    assert sorted(rows) == ["broken", "good"]
    assert rows["good"].error is None and rows["good"].head_id == 2
    assert rows["broken"].error
    rows_page, total = admin.channel_page(limit=10)
    assert total == 2 and [r.error is None for r in rows_page] == [False, True]
    assert admin.channel("broken").error
    # One channel's subscriber list cannot be shown: a library error, not redis-py's.
    with pytest.raises(BackendError):
        admin.subscribers("broken")
    assert [s.lag for s in admin.subscribers("good")] == [2]


def test_foreign_channel_key_of_wrong_type_after_rebuild(admin: Admin, backend: Any,
                                                         make_client: MakeClient) -> None:
    channel_with(make_client, "good", 1)
    backend.rpush(msg_key("listy"), "a", "b")
    admin.rebuild_registry()
    rows = {row.name: row for row in admin.channels()}
    assert sorted(rows) == ["good", "listy"]
    assert rows["listy"].error and rows["good"].error is None


def test_foreign_index_key_of_wrong_type_does_not_break_clients(
    admin: Admin, backend: Any, make_client: MakeClient
) -> None:
    channel_with(make_client, "good", 2, "a")
    backend.set(index_key("weird"), "not a zset")
    admin.rebuild_registry()
    rows = {c.client_id: c for c in admin.clients()}
    assert rows["a"].lags == {"good": 2}


# -- rebuild_registry and data written around the library -----------------------------------------


def test_rebuild_registry_finds_and_forgets(admin: Admin, backend: Any,
                                            make_client: MakeClient) -> None:
    channel_with(make_client, "lib", 1, "libclient")
    now = server_ms(backend)
    foreign_message(backend, "foreign/ch #1", 1, now - 1000, "hi")
    foreign_index(backend, "foreign/ch #1", "fx", 0)
    backend.set(id_key("only-counter"), 4)
    backend.zadd(rivulet_keys.CHANNELS, {"ghost": 0})
    assert names(admin.channels()) == ["lib"]  # the registry does not know it yet
    assert admin.rebuild_registry() == 3
    assert names(admin.channels()) == ["foreign/ch #1", "lib", "only-counter"]
    assert admin.channel_count() == 3
    assert backend.zscore(rivulet_keys.CHANNELS, "ghost") is None
    clients = {c.client_id: c for c in admin.clients()}
    assert clients["fx"].channels == {"foreign/ch #1": 0}
    assert clients["fx"].lags == {"foreign/ch #1": 1}
    assert admin.channel("only-counter").head_id == 4
    # Idempotent.
    assert admin.rebuild_registry() == 3
    assert names(admin.channels()) == ["foreign/ch #1", "lib", "only-counter"]


def test_foreign_keys_with_invalid_channel_names_are_flagged(admin: Admin, backend: Any,
                                                             make_client: MakeClient) -> None:
    # Keys no rivulet client could write: an empty hash tag, a brace in the
    # name, a name no URL can carry. A listing may leave them out or flag them,
    # but never offer them as channels the API would then refuse.
    channel_with(make_client, "ok", 1)
    backend.zadd("rvl:msg:{}", {"x": 1})
    backend.set("rvl:id:{a{b}", 3)
    backend.set("rvl:id:{.}", 3)
    admin.rebuild_registry()
    rows = admin.channels()
    assert "ok" in names(rows)
    for row in rows:
        try:
            validate_name(row.name)
        except InvalidNameError:
            assert row.error, f"{row.name!r} listed as a usable channel"


def test_management_calls_on_one_channel_do_not_need_the_registry(
    admin: Admin, backend: Any
) -> None:
    foreign_message(backend, "unlisted", 1, server_ms(backend), "x")
    foreign_index(backend, "unlisted", "fx", 0)
    assert admin.channels() == []
    assert admin.channel("unlisted").head_id == 1
    assert [s.lag for s in admin.subscribers("unlisted")] == [1]
    assert admin.count("unlisted") == 1
    assert admin.delete_channel("unlisted") is True
    assert all_keys(backend) == set()


def test_lag_of_data_written_by_another_client(admin: Admin, backend: Any) -> None:
    now = server_ms(backend)
    # Messages 1..5 were written and already pruned; 6..10 are stored, with
    # another client's JSON layout (spaces, different key order).
    backend.set(id_key("ext"), 10)
    stamps = {i: now - (11 - i) * 60_000 for i in range(6, 11)}
    for i, ts in stamps.items():
        member = json.dumps({"data": f"d{i}", "src": "other", "ts": ts, "id": i})
        backend.zadd(msg_key("ext"), {member: i})
    for client, index in (("slow", 3), ("mid", 8), ("done", 10), ("ahead", 12)):
        foreign_index(backend, "ext", client, index)

    before = server_ms(backend)
    rows = by_client(admin.subscribers("ext"))
    info = admin.channel("ext")
    after = server_ms(backend)

    def age_bounds(ts: int) -> tuple[float, float]:
        return (before - ts) / 1000, (after - ts) / 1000

    slow, mid, done, ahead = rows["slow"], rows["mid"], rows["done"], rows["ahead"]
    assert (slow.index, slow.lag, slow.pending, slow.pruned_unread) == (3, 7, 5, 2)
    low, high = age_bounds(stamps[6])
    assert low <= slow.lag_seconds <= high
    assert (mid.index, mid.lag, mid.pending) == (8, 2, 2)
    low, high = age_bounds(stamps[9])
    assert low <= mid.lag_seconds <= high
    assert (done.lag, done.pending, done.lag_seconds, done.beyond_head) == (0, 0, 0.0, False)
    assert (ahead.lag, ahead.pending, ahead.beyond_head) == (0, 0, True)
    for row in rows.values():
        assert row.last_read_ts is None

    assert (info.head_id, info.message_count, info.oldest_id, info.newest_id) == (10, 5, 6, 10)
    assert (info.oldest_ts, info.newest_ts) == (stamps[6], stamps[10])
    assert (info.subscriber_count, info.max_lag) == (4, 7)
    low, high = age_bounds(stamps[6])
    assert low <= info.max_lag_seconds <= high
    assert [m["data"] for m in admin.messages("ext", limit=2)] == ["d10", "d9"]


# -- reads never write ----------------------------------------------------------------------


def test_read_only_calls_write_nothing(admin: Admin, backend: Any,
                                       make_client: MakeClient) -> None:
    a, b = make_client("a"), make_client("b")
    a.subscribe(["x", "y"])
    b.subscribe("x")
    a.write("x", ["1", "2", "3"])
    b.read(message_limit=1)
    admin.set_retention("y", max_messages=5)
    before = snapshot(backend)
    admin.channels()
    admin.channels(match="x*", offset=0, limit=1)
    admin.channel_page(limit=1)
    admin.channel_count()
    admin.channel_count(match="*")
    admin.channel("x")
    admin.subscribers("x")
    admin.subscribers_many(["x", "y"])
    admin.clients()
    admin.client_count()
    admin.count("x")
    admin.messages("x")
    admin.messages("x", newest_first=False, after_id=1)
    assert snapshot(backend) == before


# -- round trips and KEYS (real redis-server only) ------------------------------------


class RoundTrips:
    """Counts what redis-py sends: one packed send is one round trip (a
    pipeline is one send)."""

    def __init__(self) -> None:
        self.count = 0

    def measure(self, call: Callable[[], Any]) -> tuple[int, Any]:
        call()  # warm up: connections made, scripts loaded
        self.count = 0
        result = call()
        return self.count, result


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> RoundTrips:
    from redis.connection import AbstractConnection

    counter = RoundTrips()
    original = AbstractConnection.send_packed_command

    def counting(self: Any, command: Any, check_health: bool = True) -> None:
        counter.count += 1
        original(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
    return counter


def command_stats(r: Any) -> set[str]:
    return {name.removeprefix("cmdstat_") for name in r.info("commandstats")}


def populate_channels(r: Any, count: int) -> None:
    """``count`` channels, each with a message one subscriber has not read."""
    r.flushall()
    channels = [f"ch{i:04d}" for i in range(count)]
    writer = rivulet.Client(redis=r, client_id="writer")
    reader = rivulet.Client(redis=r, client_id="reader")
    writer.subscribe(channels)
    reader.subscribe(channels)
    for channel in channels:
        writer.write(channel, ["one", "two"])
    reader.read(message_limit=1)


def populate_subscribers(r: Any, count: int) -> None:
    """One channel with ``count`` subscribers at different indexes, each
    also reading a channel of its own."""
    r.flushall()
    writer = rivulet.Client(redis=r, client_id="writer")
    writer.subscribe("big")
    for i in range(count):
        client = rivulet.Client(redis=r, client_id=f"sub{i:04d}")
        client.subscribe(["big", f"own{i:04d}"])
    writer.write("big", ["1", "2", "3"])
    for i in range(0, count, 2):
        rivulet.Client(redis=r, client_id=f"sub{i:04d}").read(message_limit=1)


CHANNEL_PAGES: dict[str, Callable[[Admin], Any]] = {
    "channels(limit=50)": lambda a: a.channels(limit=50),
    "channels()": lambda a: a.channels(),
    "channels(offset=5, limit=5)": lambda a: a.channels(offset=5, limit=5),
    "channels(match, limit)": lambda a: a.channels(match="ch*", limit=50),
    "channel_page(limit=50)": lambda a: a.channel_page(limit=50),
    "channel_page(match, offset, limit)": lambda a: a.channel_page("ch0*", 2, 50),
    "channel_count()": lambda a: a.channel_count(),
    "channel_count(match)": lambda a: a.channel_count("ch*"),
}


def test_channel_pages_cost_constant_round_trips(real_redis: Any,
                                                 round_trips: RoundTrips) -> None:
    admin = Admin(real_redis)
    costs: dict[int, dict[str, int]] = {}
    for size in (10, 1000):
        populate_channels(real_redis, size)
        real_redis.config_resetstat()
        costs[size] = {}
        for label, call in CHANNEL_PAGES.items():
            costs[size][label], _ = round_trips.measure(lambda call=call: call(admin))
        rows = admin.channels()
        assert len(rows) == size
        assert all((r.head_id, r.message_count, r.max_lag) == (2, 2, 2) for r in rows)
        assert len(admin.channels(limit=50)) == min(50, size)
        used = command_stats(real_redis)
        assert "keys" not in used
        assert "scan" not in used  # listing never walks the keyspace
    assert all(cost > 0 for cost in costs[10].values())
    assert costs[10] == costs[1000]


def test_subscriber_and_client_lists_cost_constant_round_trips(
    real_redis: Any, round_trips: RoundTrips
) -> None:
    admin = Admin(real_redis)
    calls: dict[str, Callable[[], Any]] = {
        "subscribers": lambda: admin.subscribers("big"),
        "subscribers_many": lambda: admin.subscribers_many(["big", "own0001"]),
        "clients()": lambda: admin.clients(),
        "clients(limit=50)": lambda: admin.clients(limit=50),
        "client_count": lambda: admin.client_count(),
        "channel": lambda: admin.channel("big"),
    }
    costs: dict[int, dict[str, int]] = {}
    for size in (10, 1000):
        populate_subscribers(real_redis, size)
        real_redis.config_resetstat()
        costs[size] = {label: round_trips.measure(call)[0] for label, call in calls.items()}
        subs = admin.subscribers("big")
        assert len(subs) == size + 1
        assert sorted({s.lag for s in subs}) == [2, 3]
        clients = admin.clients()
        assert len(clients) == size + 1
        assert clients[0].channels == {"big": 1, "own0000": 0}
        assert clients[0].lags == {"big": 2, "own0000": 0}
        assert "keys" not in command_stats(real_redis)
    assert all(cost > 0 for cost in costs[10].values())
    assert costs[10] == costs[1000]


def test_no_management_call_uses_keys(real_redis: Any) -> None:
    admin = Admin(real_redis)
    a = rivulet.Client(redis=real_redis, client_id="a")
    b = rivulet.Client(redis=real_redis, client_id="b")
    a.subscribe(["x", "y", "z"])
    b.subscribe("x")
    a.write("x", ["1", "2", "3"])
    real_redis.config_resetstat()
    admin.channels(match="x*")
    admin.channel_page(limit=2)
    admin.channel("x")
    admin.subscribers("x")
    admin.clients()
    admin.messages("x", after_id=1)
    admin.count("x")
    admin.set_index("x", "b", "latest")
    admin.set_retention("x", max_messages=10, max_age=60)
    admin.prune("x", upto_id=1, older_than=3600, consumed=True, keep_last=2)
    admin.post("x", "hello")
    admin.remove_subscriber("y", "a")
    admin.delete_channel("z")
    admin.rebuild_registry()
    used = command_stats(real_redis)
    assert "evalsha" in used  # the statistics did record the calls
    assert "keys" not in used


# -- connections -------------------------------------------------------------------------


def test_admin_from_a_url(real_redis: Any, redis_server: Any) -> None:
    rivulet.Client(redis=real_redis, client_id="c").subscribe("x")
    admin = Admin(redis_server.url)
    try:
        assert admin.ping() is True
        assert names(admin.channels()) == ["x"]
    finally:
        admin.close()


def test_admin_over_a_decoding_client_gives_the_same_rows(real_redis: Any,
                                                          redis_server: Any) -> None:
    a = rivulet.Client(redis=real_redis, client_id="a")
    b = rivulet.Client(redis=real_redis, client_id="b")
    a.subscribe(["x", "naïve ☃"])
    b.subscribe("x")
    a.write("x", ["1", "2", "3"])
    b.read(message_limit=1)
    real_redis.zadd(msg_key("x"), {"not json": 4})
    real_redis.set(id_key("x"), 4)
    raw = Admin(real_redis)
    decoding_redis = redis_server.client(decode_responses=True)
    decoding = Admin(decoding_redis)

    def timeless(rows: list[Any]) -> list[Any]:
        # Ages move between the two calls; everything else must be equal.
        ages = ("max_lag_seconds", "lag_seconds")
        return [dataclasses.replace(r, **{a: 0.0 for a in ages if hasattr(r, a)})
                for r in rows]

    try:
        assert timeless(decoding.channels()) == timeless(raw.channels())
        assert timeless(decoding.subscribers("x")) == timeless(raw.subscribers("x"))
        assert decoding.clients() == raw.clients()
        assert decoding.messages("x") == raw.messages("x")
        assert timeless([decoding.channel("naïve ☃")]) == timeless([raw.channel("naïve ☃")])
    finally:
        decoding_redis.close()


def test_unreachable_redis_raises_the_library_error() -> None:
    from rivulet.retry import RetryPolicy

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    port = sock.getsockname()[1]
    try:
        admin = Admin(f"redis://127.0.0.1:{port}/0", retry=RetryPolicy.none())
        with pytest.raises(rivulet.ConnectionError):
            admin.channels()
        with pytest.raises(rivulet.ConnectionError):
            admin.channel("x")
        admin.close()
    finally:
        sock.close()
