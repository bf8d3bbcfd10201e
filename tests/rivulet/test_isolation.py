"""Isolation (SPEC section 3): one channel's broken key or planted member costs
only that channel, and a script that fails part-way changes nothing.

Everything "broken" here is written around the library, straight into the
data model, as an operator's script or another program might.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rivulet
from rivulet import keys


def data(inbox: dict[str, list[dict[str, Any]]], channel: str) -> list[str]:
    return [m["data"] for m in inbox.get(channel, [])]


def index_of(backend: Any, channel: str, client: str) -> Any:
    return backend.zscore(keys.channel_key(channel), client)


def plant(backend: Any, channel: str, member: str, score: float) -> None:
    backend.zadd(keys.msg_key(channel), {member: score})


def planted_message(json_id: int, text: str) -> str:
    return json.dumps({"id": json_id, "ts": 1, "src": "planter", "data": text})


@pytest.fixture
def two_channels(make_client: Any, backend: Any) -> Any:
    """Client "r" reading "A" and "B", each holding three messages; B's
    last-read key is then replaced by a string."""
    def make(**options: Any) -> rivulet.Client:
        reader = make_client("r", **options)
        reader.subscribe(["A", "B"])
        reader.write("A", ["a1", "a2", "a3"])
        reader.write("B", ["b1", "b2", "b3"])
        backend.delete(keys.read_key("B"))
        backend.set(keys.read_key("B"), "not a zset")
        return reader
    return make


# -- one bad channel costs only itself ------------------------------------


def test_a_broken_channel_costs_only_itself_in_default_mode(
    two_channels: Any, backend: Any, caplog: pytest.LogCaptureFixture
) -> None:
    reader = two_channels()
    with caplog.at_level(logging.WARNING, logger="rivulet"):
        inbox = reader.read()
    assert data(inbox, "A") == ["a1", "a2", "a3"]
    assert "B" not in inbox
    assert "'B'" in caplog.text and "rvl:read:{B}" in caplog.text
    assert index_of(backend, "A", "r") == 3
    assert index_of(backend, "B", "r") == 0  # untouched, its messages kept
    assert len(backend.zrange(keys.msg_key("B"), 0, -1)) == 3
    assert reader.read() == {}  # A's were delivered once, and B still costs nothing
    backend.delete(keys.read_key("B"))  # repaired: B's messages were never lost
    assert data(reader.read(), "B") == ["b1", "b2", "b3"]


def test_a_broken_channel_costs_only_itself_with_manual_commit(
    two_channels: Any, backend: Any, caplog: pytest.LogCaptureFixture
) -> None:
    reader = two_channels(auto_commit=False)
    with caplog.at_level(logging.WARNING, logger="rivulet"):
        inbox = reader.read()
        assert data(inbox, "A") == ["a1", "a2", "a3"]
        assert index_of(backend, "A", "r") == 0
        assert reader.commit({**inbox, "B": [{"id": 3}]}) == {"A": 3}
    assert index_of(backend, "A", "r") == 3
    assert index_of(backend, "B", "r") == 0
    assert "could not commit" in caplog.text
    assert reader.read() == {}


def test_listen_goes_on_past_a_broken_channel(two_channels: Any) -> None:
    reader = two_channels(auto_commit=False)
    seen = [(channel, m["data"]) for channel, m in reader.listen(timeout=0)]
    assert seen == [("A", "a1"), ("A", "a2"), ("A", "a3")]


@pytest.mark.parametrize("kind", ["read", "msg", "id", "channel"])
def test_a_wrong_type_key_moves_no_index(make_client: Any, backend: Any, kind: str) -> None:
    reader = make_client("r")
    reader.subscribe("C")
    reader.write("C", ["c1", "c2"])
    reader.read()
    reader.write("C", ["c3"])
    key = {"read": keys.read_key, "msg": keys.msg_key, "id": keys.id_key,
           "channel": keys.channel_key}[kind]("C")
    saved = {k: backend.dump(k) for k in keys.channel_keys("C") if backend.exists(k)}
    backend.delete(key)
    backend.rpush(key, "a list")  # the wrong type for every one of these keys
    saved.pop(key, None)
    assert reader.read() == {}
    # Nothing else changed: every other key of the channel is as it was.
    for k, dumped in saved.items():
        assert backend.dump(k) == dumped, k


def test_a_counter_that_is_no_number_breaks_only_its_channel(make_client: Any,
                                                             backend: Any) -> None:
    reader = make_client("r")
    reader.subscribe(["A", "C"])
    reader.write("A", "a1")
    reader.write("C", "c1")
    backend.set(keys.id_key("C"), "inf")
    assert data(reader.read(), "A") == ["a1"]
    assert index_of(backend, "C", "r") == 0


def test_admin_shows_the_broken_channel(two_channels: Any, admin: rivulet.Admin) -> None:
    two_channels()
    broken = admin.channel("B")
    assert broken.error is not None and "rvl:read:{B}" in broken.error
    assert admin.channel("A").error is None
    assert {c.name: c.error is None for c in admin.channels()} == {"A": True, "B": False}


def test_errors_from_a_broken_channel_name_no_script_internals(
        make_client: Any, backend: Any, admin: rivulet.Admin) -> None:
    reader = make_client("r")
    reader.subscribe("bk")
    reader.write("bk", "m1")
    backend.delete(keys.msg_key("bk"))
    backend.set(keys.msg_key("bk"), "not a zset")
    with pytest.raises(rivulet.BackendError) as raised:
        admin.subscribers("bk")
    text = str(raised.value)
    assert "WRONGTYPE" in text or "wrong type" in text
    assert "@user_" not in text and "script:" not in text
    assert not re.search(r"[0-9a-f]{40}", text)  # no script sha


@pytest.mark.parametrize("score", [float("inf"), float("-inf"), -1, 2**53])
def test_admin_shows_a_member_whose_score_is_no_id(make_client: Any, backend: Any,
                                                   admin: rivulet.Admin, score: float) -> None:
    reader = make_client("r")
    reader.subscribe("C")
    reader.write("C", ["m1", "m2"])
    plant(backend, "C", planted_message(1, "planted"), score)
    info = admin.channel("C")
    assert info.error is not None and "1 member(s) scored outside" in info.error
    # The numbers are the genuine messages'; an inf never shows as -2**63.
    assert (info.head_id, info.message_count, info.oldest_id, info.newest_id) == (2, 2, 1, 2)
    assert [c.error is not None for c in admin.channels()] == [True]


# -- planted members --------------------------------------------------------


def test_a_planted_json_id_is_read_and_committed_by_its_score(make_client: Any,
                                                              backend: Any) -> None:
    reader = make_client("r", auto_commit=False)
    reader.subscribe("C")
    reader.write("C", [f"m{i}" for i in range(1, 101)])
    plant(backend, "C", planted_message(90, "liar"), 4)  # claims id 90, scored 4
    seen: list[str] = []
    for _ in range(100):
        inbox = reader.read(message_limit=10)
        if not inbox:
            break
        assert all(type(m["id"]) is int for m in inbox["C"])
        seen += data(inbox, "C")
        reader.commit(inbox)
    genuine = [s for s in seen if s != "liar"]
    assert genuine == [f"m{i}" for i in range(1, 101)]  # none of 86 skipped
    assert seen.count("liar") == 1


def test_a_planted_member_sharing_an_id_does_not_hide_the_message(make_client: Any,
                                                                  backend: Any) -> None:
    reader = make_client("r")
    reader.subscribe("C")
    reader.write("C", ["m1", "m2", "m3"])
    # '{"data"...' sorts before '{"id"...': at limit 2 it would end the page on
    # id 2 and the index would move past the genuine m2.
    plant(backend, "C", json.dumps({"data": "twin"}), 2)
    first = reader.read(message_limit=2)
    assert data(first, "C") == ["m1", "twin", "m2"]
    assert [m["id"] for m in first["C"]] == [1, 2, 2]
    assert data(reader.read(), "C") == ["m3"]


@pytest.mark.parametrize("score", [2.5, float("inf"), 1e300])
@pytest.mark.parametrize("auto_commit", [True, False])
def test_a_score_that_is_no_id_is_skipped_and_never_becomes_an_index(
    make_client: Any, backend: Any, admin: rivulet.Admin, caplog: pytest.LogCaptureFixture,
    score: float, auto_commit: bool,
) -> None:
    reader = make_client("r", auto_commit=auto_commit)
    reader.subscribe("C")
    reader.write("C", ["m1", "m2"])
    plant(backend, "C", planted_message(3, "planted"), score)
    reader.write("C", ["m3", "m4"])
    with caplog.at_level(logging.WARNING, logger="rivulet"):
        seen: list[str] = []
        for _ in range(10):
            inbox = reader.read(message_limit=1)
            if not inbox:
                break
            seen += data(inbox, "C")
            reader.commit(inbox)
    assert seen == ["m1", "m2", "m3", "m4"]  # in order, once each, nothing planted
    assert "no message id" in caplog.text
    index = index_of(backend, "C", "r")
    assert index == 4 and index == int(index)
    (row,) = admin.subscribers("C")
    assert row.index == 4 and row.lag == 0


def test_a_planted_index_is_read_as_the_head(make_client: Any, backend: Any) -> None:
    reader = make_client("r")
    reader.subscribe("C")
    reader.write("C", ["m1"])
    backend.zadd(keys.channel_key("C"), {"r": float("inf")})
    assert reader.read() == {}
    assert index_of(backend, "C", "r") == 1
    reader.write("C", ["m2"])
    assert data(reader.read(), "C") == ["m2"]


@pytest.mark.parametrize("score", [float("inf"), float("-inf"), 1e300, -1])
def test_admin_messages_leave_out_a_score_outside_the_ids(make_client: Any, backend: Any,
                                                          admin: rivulet.Admin,
                                                          score: float) -> None:
    writer = make_client("w")
    writer.subscribe("C")
    writer.write("C", ["m1", "m2", "m3"])
    plant(backend, "C", planted_message(7, "planted"), score)
    for newest_first in (True, False):
        rows = admin.messages("C", newest_first=newest_first)
        assert sorted(m["data"] for m in rows) == ["m1", "m2", "m3"]
    # Following from an id (rivulet tail -f) is not stalled by an id of 2**53.
    assert [m["data"] for m in admin.messages("C", after_id=1, newest_first=False)] == [
        "m2", "m3"]


def test_admin_messages_show_a_fractional_score_as_malformed(make_client: Any, backend: Any,
                                                             admin: rivulet.Admin) -> None:
    writer = make_client("w")
    writer.subscribe("C")
    writer.write("C", ["m1", "m2", "m3"])
    plant(backend, "C", planted_message(7, "planted"), 2.5)
    rows = admin.messages("C")
    assert [(m["id"], m.get("malformed", False)) for m in rows] == [
        (3, False), (2, True), (2, False), (1, False)]
    assert rows[1]["score"] == "2.5"


def test_a_planted_inf_in_the_mirrors_breaks_no_listing(make_client: Any, backend: Any,
                                                         admin: rivulet.Admin) -> None:
    reader = make_client("r")
    reader.subscribe("C")
    reader.write("C", ["m1"])
    backend.zadd(keys.index_key("r"), {"C": float("inf")})
    backend.zadd(keys.channel_key("C"), {"planted": float("inf")})
    assert data(make_client("r").read(), "C") == ["m1"]
    assert {row.client_id: row.index for row in admin.subscribers("C")} == {
        "r": 1, "planted": 2**53 - 1}
    assert [c.client_id for c in admin.clients()] == ["r"]


# -- bad input (8a) and scripts that fail part-way ----------------------------


@pytest.mark.parametrize("batch", [{"a": 1}, {"a", "b"}, {"a": "b"}.values()])
def test_write_refuses_a_mapping_or_set(make_client: Any, backend: Any, batch: Any) -> None:
    writer = make_client("w")
    writer.subscribe("C")
    with pytest.raises(TypeError, match="sequence of str"):
        writer.write("C", batch)
    assert backend.zcard(keys.msg_key("C")) == 0


@pytest.mark.parametrize("timeout", [10**400, -(10**400), float("inf"), 1e300])
def test_an_absurd_timeout_blocks_rather_than_overflowing(make_client: Any,
                                                          timeout: float) -> None:
    reader = make_client("r")
    reader.subscribe("C")
    reader.write("C", "waiting")  # so the blocking read returns at once
    assert data(reader.read(timeout=timeout), "C") == ["waiting"]
    reader.write("C", "again")
    channel, message = next(reader.listen(timeout=timeout))
    assert (channel, message["data"]) == ("C", "again")


def test_an_absurd_timeout_with_no_subscriptions_is_refused_as_a_block(make_client: Any) -> None:
    with pytest.raises(rivulet.NotSubscribedError):
        make_client("r").read(timeout=10**400)


@pytest.mark.parametrize("kind", ["msg", "meta", "channel", "id"])
def test_a_refused_write_burns_no_id(make_client: Any, backend: Any, kind: str) -> None:
    writer = make_client("w")
    writer.subscribe("C")
    assert writer.write("C", ["m1"]) == [1]
    key = {"msg": keys.msg_key, "meta": keys.meta_key, "channel": keys.channel_key,
           "id": keys.id_key}[kind]("C")
    saved = backend.dump(key)
    backend.delete(key)
    backend.set(key, "x") if kind != "id" else backend.rpush(key, "x")
    with pytest.raises(rivulet.BackendError, match="WRONGTYPE"):
        writer.write("C", ["m2"])
    backend.delete(key)
    backend.restore(key, 0, saved)
    assert writer.write("C", ["m3"]) == [2]  # the refused write took no id


@pytest.mark.parametrize("kind", ["msg", "channel", "id"])
def test_a_refused_subscribe_changes_nothing(make_client: Any, backend: Any, kind: str) -> None:
    key = {"msg": keys.msg_key, "channel": keys.channel_key, "id": keys.id_key}[kind]("C")
    backend.rpush(key, "x")
    with pytest.raises(rivulet.BackendError, match="WRONGTYPE"):
        make_client("r").subscribe("C")
    assert sorted(k for k in keys.channel_keys("C") if backend.exists(k)) == [key]


# -- the read path as a property ----------------------------------------------

PLANTS = ["json_id", "fraction", "inf", "not_json"]
BREAKS = ["read", "msg", "id", "channel"]

STEP = st.one_of(
    st.tuples(st.just("write"), st.integers(0, 2), st.integers(1, 4)),
    st.tuples(st.just("plant"), st.integers(0, 2), st.sampled_from(PLANTS)),
    # read with a message_limit; with auto_commit=False, commit or not (a crash)
    st.tuples(st.just("read"), st.integers(1, 4), st.booleans()),
)
SCENARIO = st.fixed_dictionaries({
    "good": st.integers(1, 3),
    "broken": st.lists(st.sampled_from(BREAKS), max_size=2),
    "steps": st.lists(STEP, max_size=14),
})


@pytest.fixture(params=["fakeredis", "redis"])
def plain_backend(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue({"fakeredis": "fake_redis", "redis": "real_redis"}[
        request.param])


@pytest.mark.parametrize("auto_commit", [True, False], ids=["default", "manual"])
@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario=SCENARIO)
def test_every_genuine_message_of_every_good_channel_is_delivered(
    plain_backend: Any, auto_commit: bool, scenario: dict[str, Any]
) -> None:
    backend = plain_backend
    backend.flushall()  # one fixture serves every example
    good = [f"g{i}" for i in range(scenario["good"])]
    broken = [f"b{i}" for i in range(len(scenario["broken"]))]
    client = rivulet.Client(redis=backend, client_id="c", auto_commit=auto_commit)
    client.subscribe(good + broken)
    for channel, kind in zip(broken, scenario["broken"]):
        client.write(channel, ["lost?"])
        client.read()  # creates the last-read key, moves the index
        client.write(channel, ["unread"])
        key = {"read": keys.read_key, "msg": keys.msg_key, "id": keys.id_key,
               "channel": keys.channel_key}[kind](channel)
        backend.delete(key)
        backend.rpush(key, "wrong type")
    expected: dict[str, list[str]] = {c: [] for c in good}
    seen: dict[str, list[str]] = {c: [] for c in good}

    def take(inbox: dict[str, list[dict[str, Any]]], commit: bool) -> None:
        assert not set(inbox) & set(broken)
        for channel, messages in inbox.items():
            assert all(type(m["id"]) is int for m in messages)
            seen[channel] += [m["data"] for m in messages]
        if commit and not auto_commit:
            client.commit(inbox)

    for n, (action, which, arg) in enumerate(scenario["steps"]):
        channel = good[which % len(good)]
        if action == "write":
            batch = [f"{channel}:{n}:{k}" for k in range(arg)]
            client.write(channel, batch)
            expected[channel] += batch
        elif action == "plant":
            head = int(backend.get(keys.id_key(channel)) or 0)
            member, score = {
                "json_id": (planted_message(10**6 + n, f"plant {n}"), float(head)),
                "fraction": (planted_message(head, f"plant {n}"), head + 0.5),
                "inf": (planted_message(head + 1, f"plant {n}"), float("inf")),
                "not_json": (f"not json {n}", float(head)),
            }[arg]
            plant(backend, channel, member, score)
        else:
            take(client.read(message_limit=which + 1), commit=arg)
    for _ in range(200):
        inbox = client.read(message_limit=3)
        if not inbox:
            break
        take(inbox, commit=True)
    else:
        raise AssertionError("the channels never ran dry")

    for channel in good:
        genuine = [d for d in seen[channel] if d in set(expected[channel])]
        if auto_commit:
            assert genuine == expected[channel]  # exactly once, in order
        else:
            assert list(dict.fromkeys(genuine)) == expected[channel]  # at least once
        for _, index in backend.zrange(keys.channel_key(channel), 0, -1, withscores=True):
            assert index == int(index)
    client.close()
