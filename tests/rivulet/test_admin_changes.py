"""The management API's changes (SPEC section 4): set_index, remove_subscriber,
messages, prune, post and retention; on every backend.
"""

from __future__ import annotations

from typing import Any

import pytest

import rivulet
from rivulet import (
    Admin,
    ChannelNotFoundError,
    NotSubscribedError,
)

from .admin_support import (
    MakeClient,
    all_keys,
    by_client,
    channel_keys_in_redis,
    channel_with,
    foreign_index,
    foreign_message,
    index_key,
    names,
    server_ms,
    snapshot,
)

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


