"""Behaviour tests of the management API (SPEC section 4) that read: channels,
their info, subscribers and clients, and delete_channel; on every backend.

Data "written around the library" is spelled with the key names of SPEC
section 2 directly (:mod:`.admin_support`), so these tests hold the library to
the documented data model rather than to its own helpers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from rivulet import (
    Admin,
    ChannelInfo,
    ChannelNotFoundError,
    InvalidNameError,
)
from rivulet import keys as rivulet_keys

from .admin_support import (
    ODD_NAMES,
    MakeClient,
    by_client,
    channel_keys_in_redis,
    channel_with,
    foreign_index,
    foreign_message,
    glob_escape,
    id_key,
    index_key,
    msg_key,
    names,
    server_ms,
    snapshot,
    sub_key,
)

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


