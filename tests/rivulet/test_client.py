"""Behaviour of producers and consumers (SPEC section 3), on every backend."""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import pytest

import rivulet
from rivulet import keys, scripts
from rivulet.wakeup import Wakeup
from rivulet.write_calls import write_call, write_reply


def stored(backend: Any, channel: str) -> list[int]:
    """Ids stored in a channel, read straight from the data model."""
    return [int(s) for _, s in backend.zrange(keys.msg_key(channel), 0, -1, withscores=True)]


def test_seed_quickstart_runs_as_written(make_client: Any) -> None:
    c = make_client()
    channels = ["my-channel-0", "my-channel-1"]
    c.subscribe(channels)
    c.write("my-channel-1", ["the message as a string"])
    inbox = c.read()
    seen = []
    for channel, messages in inbox.items():
        for message in messages:
            seen.append((channel, message["data"], message["src"]))
    assert seen == [("my-channel-1", "the message as a string", c.client_id)]
    c.unsubscribe(channels)
    assert c.subscriptions == []


def test_write_returns_contiguous_ids_and_read_returns_them_in_order(make_client: Any) -> None:
    c = make_client("writer")
    c.subscribe("ch", "latest")
    assert c.write("ch", "one") == [1]
    assert c.write("ch", ["two", "three", "four"]) == [2, 3, 4]
    inbox = c.read()
    assert list(inbox) == ["ch"]
    messages = inbox["ch"]
    assert [m["id"] for m in messages] == [1, 2, 3, 4]
    assert [m["data"] for m in messages] == ["one", "two", "three", "four"]
    assert set(messages[0]) == {"id", "ts", "src", "data"}
    assert all(m["src"] == "writer" for m in messages)
    # ts is Redis server time in ms: within a day of this machine's clock.
    assert abs(messages[0]["ts"] - time.time() * 1000) < 86_400_000
    assert c.read() == {}


def test_messages_are_compact_json_with_the_documented_fields(make_client: Any,
                                                               backend: Any) -> None:
    c = make_client("w")
    c.subscribe("ch")
    c.write("ch", 'quote " slash / unicode \u00e9 \U0001f600 newline \n')
    (member,) = backend.zrange(keys.msg_key("ch"), 0, -1)
    raw = member.decode() if isinstance(member, bytes) else member
    assert raw.startswith('{"id":1,"ts":')
    assert json.loads(raw)["data"] == 'quote " slash / unicode \u00e9 \U0001f600 newline \n'
    assert ", " not in raw.split('"data"')[0]  # compact separators


def test_empty_batch_writes_nothing(make_client: Any, backend: Any) -> None:
    c = make_client()
    c.subscribe("ch")
    assert c.write("ch", []) == []
    assert stored(backend, "ch") == []


@pytest.mark.parametrize("policy", ["EARLIEST", rivulet.IndexPolicy.EARLIEST, "earliest"])
def test_earliest_starts_before_the_oldest_stored_message(make_client: Any, policy: Any) -> None:
    w = make_client("w")
    w.subscribe("ch")
    w.write("ch", ["a", "b", "c"])
    r = make_client("r")
    r.subscribe("ch", policy)
    assert [m["data"] for m in r.read()["ch"]] == ["a", "b", "c"]


def test_latest_reads_only_new_messages(make_client: Any) -> None:
    w = make_client("w")
    w.subscribe("ch")
    w.write("ch", ["old"])
    r = make_client("r")
    r.subscribe("ch", "latest")
    assert r.read() == {}
    w.write("ch", "new")
    assert [m["data"] for m in r.read()["ch"]] == ["new"]


def test_current_resumes_and_defaults_to_latest(make_client: Any) -> None:
    w = make_client("w")
    w.subscribe("ch")
    w.write("ch", ["before"])
    r = make_client("r")
    assert r.subscribe("ch", "current") == {"ch": 1}  # no stored index: as latest
    w.write("ch", ["x", "y"])
    assert [m["data"] for m in r.read(message_limit=1)["ch"]] == ["x"]
    assert r.subscribe("ch", "current") == {"ch": 2}  # a no-op
    assert r.subscribe("ch", "earliest") == {"ch": 0}  # back to before the oldest kept
    assert r.subscribe("ch", "latest") == {"ch": 3}


def test_earliest_on_an_empty_channel_is_the_head(make_client: Any) -> None:
    c = make_client()
    assert c.subscribe("fresh", "earliest") == {"fresh": 0}


def test_unknown_policy_names_the_valid_ones(make_client: Any) -> None:
    c = make_client()
    with pytest.raises(ValueError, match="'earliest', 'current', 'latest'"):
        c.subscribe("ch", "oldest")
    with pytest.raises(ValueError):
        c.subscribe("ch", 3)


def test_resume_by_client_id(make_client: Any) -> None:
    w = make_client("w")
    w.subscribe("ch")
    first = make_client("worker-1")
    first.subscribe(["ch", "other"], "latest")
    w.write("ch", ["1", "2"])
    assert len(first.read(message_limit=1)["ch"]) == 1
    first.close()
    again = make_client("worker-1")  # a new process reusing the id
    assert again.subscriptions == ["ch", "other"]
    assert [m["data"] for m in again.read()["ch"]] == ["2"]


def test_write_needs_a_subscription_and_writes_nothing_without(make_client: Any,
                                                                backend: Any) -> None:
    c = make_client()
    with pytest.raises(rivulet.NotSubscribedError, match="typo-channel"):
        c.write("typo-channel", "x")
    assert not backend.exists(*keys.channel_keys("typo-channel"))


@pytest.mark.parametrize("bad", [b"bytes", 3, None, ["ok", 4], [b"x"], {"a": 1}.items()])
def test_non_str_messages_are_a_type_error_and_nothing_is_written(
    make_client: Any, backend: Any, bad: Any
) -> None:
    c = make_client()
    c.subscribe("ch")
    with pytest.raises(TypeError):
        c.write("ch", bad)
    assert stored(backend, "ch") == []
    assert int(backend.get(keys.id_key("ch"))) == 0


def test_oversized_message_refuses_the_whole_batch(make_client: Any, backend: Any) -> None:
    c = make_client(max_message_bytes=10)
    c.subscribe("ch")
    assert c.write("ch", "0123456789") == [1]  # exactly at the limit
    with pytest.raises(rivulet.MessageTooLargeError) as info:
        c.write("ch", ["fine", "é" * 6])  # 12 bytes of UTF-8, 6 characters
    assert (info.value.size, info.value.limit) == (12, 10)
    assert isinstance(info.value, ValueError)
    assert stored(backend, "ch") == [1]


def test_default_limit_is_one_mebibyte(make_client: Any) -> None:
    c = make_client()
    c.subscribe("ch")
    with pytest.raises(rivulet.MessageTooLargeError):
        c.write("ch", "x" * ((1 << 20) + 1))


def test_invalid_unicode_is_refused(make_client: Any, backend: Any) -> None:
    c = make_client()
    c.subscribe("ch")
    with pytest.raises(ValueError, match="Unicode"):
        c.write("ch", ["ok", "\ud800"])
    assert stored(backend, "ch") == []


@pytest.mark.parametrize(
    "name", ["", "a{b", "b}", ".", "..", "x" * 201, "tab\there", "nl\n", "\x00", "\x7f", 5, None]
)
def test_invalid_names_are_refused(make_client: Any, name: Any) -> None:
    c = make_client()
    with pytest.raises(rivulet.InvalidNameError):
        c.subscribe(name)
    with pytest.raises(ValueError):  # InvalidNameError is a ValueError too
        c.write(name, "x")
    if name is not None:  # None asks for a fresh uuid
        with pytest.raises(rivulet.InvalidNameError):
            make_client(client_id=name)


@pytest.mark.parametrize(
    "name", ["with space", "a/b", "100%", "a:b", "#hash", "<script>alert(1)</script>", "日本語",
             "...", "x" * 200, "/leading", "?q=1&x"]
)
def test_odd_but_valid_names_work_end_to_end(make_client: Any, name: str) -> None:
    c = make_client(client_id=name)
    c.subscribe(name)
    c.write(name, "hi")
    assert c.read() == {name: [pytest.approx({"id": 1, "ts": pytest.approx(0, abs=1e13),
                                              "src": name, "data": "hi"})]}
    assert c.subscriptions == [name]


def test_read_arguments_are_checked(make_client: Any) -> None:
    c = make_client()
    c.subscribe("ch")
    with pytest.raises(TypeError):
        c.read(timeout="1")
    with pytest.raises(TypeError):
        c.read(message_limit=1.5)
    with pytest.raises(ValueError):
        c.read(message_limit=0)


def test_message_limit_caps_each_channel(make_client: Any) -> None:
    c = make_client()
    c.subscribe(["a", "b"])
    c.write("a", [str(i) for i in range(5)])
    c.write("b", [str(i) for i in range(2)])
    inbox = c.read(message_limit=3)
    assert {k: len(v) for k, v in inbox.items()} == {"a": 3, "b": 2}
    assert {k: len(v) for k, v in c.read(message_limit=3).items()} == {"a": 2}


def test_no_subscriptions(make_client: Any) -> None:
    c = make_client()
    assert c.read() == {}
    with pytest.raises(rivulet.NotSubscribedError):
        c.read(timeout=-1)


def test_timeout_with_nothing_to_read_returns_empty(make_client: Any) -> None:
    c = make_client()
    c.subscribe("quiet")
    assert c.read(timeout=0.05) == {}


def blocked_signal(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """An event set when a reader enters its wait for a wake-up."""
    waiting = threading.Event()
    original = Wakeup.wait

    def wait(self: Wakeup, timeout: float | None) -> None:
        waiting.set()
        original(self, timeout)

    monkeypatch.setattr(Wakeup, "wait", wait)
    return waiting


@pytest.mark.parametrize("timeout", [-1, 30])
def test_blocking_read_wakes_on_a_write(make_client: Any, monkeypatch: pytest.MonkeyPatch,
                                        timeout: float) -> None:
    reader = make_client("reader")
    reader.subscribe(["a", "b"])
    writer = make_client("writer")
    writer.subscribe("b")
    waiting = blocked_signal(monkeypatch)
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.update(reader.read(timeout=timeout)))
    thread.start()
    assert waiting.wait(10), "reader never blocked"
    writer.write("b", "wake up")
    thread.join(10)
    assert not thread.is_alive()
    assert [m["data"] for m in result["b"]] == ["wake up"]


def test_a_write_before_the_wait_is_not_missed(make_client: Any) -> None:
    reader = make_client("reader")
    reader.subscribe("ch")
    make_client("w", channel_ids="ch").write("ch", "already there")
    assert [m["data"] for m in reader.read(timeout=-1)["ch"]] == ["already there"]


def test_listen_yields_pairs_and_ends_with_a_timeout(make_client: Any) -> None:
    c = make_client()
    c.subscribe(["a", "b"])
    c.write("a", ["1", "2"])
    c.write("b", "3")
    got = [(ch, m["data"]) for ch, m in c.listen(timeout=0)]
    assert sorted(got) == [("a", "1"), ("a", "2"), ("b", "3")]


def test_without_auto_commit_reads_repeat_until_committed(make_client: Any) -> None:
    c = make_client("slow", auto_commit=False)
    c.subscribe("ch")
    c.write("ch", ["1", "2", "3"])
    first = c.read(message_limit=2)
    assert c.read(message_limit=2) == first
    assert c.commit(first) == {"ch": 2}
    assert [m["data"] for m in c.read()["ch"]] == ["3"]


def test_commit_never_moves_back_or_past_the_head(make_client: Any) -> None:
    c = make_client(auto_commit=False)
    c.subscribe("ch")
    c.write("ch", ["1", "2"])
    assert c.commit({"ch": [{"id": 2}]}) == {"ch": 2}
    assert c.commit({"ch": [{"id": 1}]}) == {"ch": 2}
    assert c.commit({"ch": [{"id": 99}]}) == {"ch": 2}


def test_commit_leaves_out_channels_no_longer_read(make_client: Any,
                                                  admin: rivulet.Admin) -> None:
    c = make_client("c", auto_commit=False)
    c.subscribe(["a", "b"])
    make_client("keeper").subscribe("b")  # b outlives c's removal
    c.write("a", "1")
    c.write("b", "2")
    inbox = c.read()
    admin.remove_subscriber("b", "c")
    assert c.commit(inbox) == {"a": 1}  # b is gone; a is committed all the same
    assert c.subscriptions == ["a"]
    assert c.commit({"nope": [{"id": 1}]}) == {}


def test_listen_without_auto_commit_survives_a_removed_subscription(
    make_client: Any, admin: rivulet.Admin
) -> None:
    c = make_client("c", auto_commit=False)
    c.subscribe(["a", "b"])
    c.write("a", ["a1", "a2"])
    c.write("b", ["b1"])
    seen = []
    for _channel, message in c.listen(timeout=0):
        seen.append(message["data"])
        if len(seen) == 1:
            admin.delete_channel("b")
    assert seen == ["a1", "a2", "b1"]
    assert c.read() == {}  # a's batch was committed


def test_listen_without_auto_commit_redelivers_an_unfinished_batch(make_client: Any) -> None:
    c = make_client("worker", auto_commit=False)
    c.subscribe("jobs")
    c.write("jobs", ["a", "b", "c"])
    stream = c.listen(timeout=0, message_limit=2)
    assert next(stream)[1]["data"] == "a"
    stream.close()  # crash mid-batch: nothing committed
    again = make_client("worker", auto_commit=False)
    stream = again.listen(timeout=0, message_limit=2)
    assert [m["data"] for _, m in stream] == ["a", "b", "c"]
    # The whole run finished, so every batch was committed on the way.
    assert again.read() == {}


def test_read_messages_are_deleted_once_every_subscriber_has_them(make_client: Any,
                                                                  backend: Any) -> None:
    fast, slow = make_client("fast"), make_client("slow")
    fast.subscribe("ch")
    slow.subscribe("ch")
    fast.write("ch", ["1", "2", "3"])
    fast.read()
    assert stored(backend, "ch") == [1, 2, 3]
    slow.read(message_limit=2)
    assert stored(backend, "ch") == [3]
    slow.unsubscribe("ch")  # the laggard leaves: what fast has read goes
    assert stored(backend, "ch") == []


def test_last_subscriber_leaving_deletes_the_channel(make_client: Any, backend: Any) -> None:
    c = make_client("only")
    c.subscribe(["ch", "keep"])
    c.write("ch", "x")
    c.unsubscribe("ch")
    assert not backend.exists(*keys.channel_keys("ch"))
    assert backend.zscore(keys.CHANNELS, "ch") is None
    assert c.subscriptions == ["keep"]


def test_malformed_member_is_skipped_with_a_warning(make_client: Any, backend: Any,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    c = make_client()
    c.subscribe("ch")
    c.write("ch", "good 1")
    backend.incr(keys.id_key("ch"))
    backend.zadd(keys.msg_key("ch"), {"not json {": 2})
    c.write("ch", "good 3")
    with caplog.at_level(logging.WARNING, logger="rivulet"):
        inbox = c.read()
    assert [m["id"] for m in inbox["ch"]] == [1, 3]
    assert "malformed" in caplog.text
    assert c.read() == {}


def test_index_beyond_head_is_moved_down_before_new_ids(make_client: Any, backend: Any) -> None:
    c = make_client("r")
    c.subscribe("ch")
    backend.zadd(keys.channel_key("ch"), {"r": 50})  # e.g. a recreated channel
    w = make_client("w", channel_ids="ch")
    assert w.write("ch", ["after"]) == [1]
    assert [m["data"] for m in c.read()["ch"]] == ["after"]


def test_read_repairs_a_stale_index_mirror(make_client: Any, backend: Any) -> None:
    c = make_client("r")
    c.subscribe("ch")
    c.write("ch", ["1", "2"])
    c.read()
    backend.zadd(keys.index_key("r"), {"ch": 0})  # mirror lost its update
    fresh = make_client("r")
    fresh.read()  # learns 0 from the mirror, hears 2 from the authority
    assert backend.zscore(keys.index_key("r"), "ch") == 2


def test_a_removed_subscription_is_forgotten_by_the_client(make_client: Any,
                                                           admin: rivulet.Admin) -> None:
    c = make_client("r")
    c.subscribe(["a", "b"])
    admin.remove_subscriber("a", "r")
    assert c.read() == {}
    assert c.subscriptions == ["b"]


def test_a_retried_write_is_not_stored_twice(backend: Any) -> None:
    rivulet.Client(redis=backend, client_id="w", channel_ids="ch")
    write_keys, args = write_call("ch", ['"x"'], mode="sub", writer="w", src="w", token="t1")
    assert scripts.WRITE(backend, write_keys, args) == 1
    # The same call again, as after a lost reply: the same first id, negated
    # to say nothing was stored.
    assert scripts.WRITE(backend, write_keys, args) == -1
    assert write_reply(-1) == (1, True)
    assert stored(backend, "ch") == [1]
    # The writer's next write has a new token and is stored.
    write_keys, args = write_call("ch", ['"y"'], mode="sub", writer="w", src="w", token="t2")
    assert scripts.WRITE(backend, write_keys, args) == 2


def test_a_retry_after_later_writes_by_the_same_writer_is_not_stored_twice(
    backend: Any,
) -> None:
    # A producer call whose reply was lost, retried after the client's own
    # writes on the same channel: the script keeps the writer's last 8 tokens.
    rivulet.Client(redis=backend, client_id="w", channel_ids="ch")

    def write(token: str) -> tuple[int, bool]:
        write_keys, args = write_call("ch", ['"x"', '"y"'], mode="sub", writer="w", src="w",
                                      token=token)
        return write_reply(scripts.WRITE(backend, write_keys, args))

    assert write("lost") == (1, False)
    for i in range(7):
        write(f"later-{i}")
    assert write("lost") == (1, True)  # still among the last 8: the same ids
    assert stored(backend, "ch") == list(range(1, 17))
    # Bounded: after enough later writes the oldest token is forgotten (the
    # script trims the field once it is long, to its newest 8 tokens), and
    # the field stays small.
    for i in range(40):
        write(f"more-{i}")
        field = backend.hget(keys.meta_key("ch"), "w:w")
        assert len(field.split()) >= 2 * 8
        assert len(field) <= 400 + len(b"more-39 99 ")  # TRIM_AT in write.lua, one pair more
    first, duplicate = write("lost")
    assert not duplicate and first == 17 + 2 * 40


@pytest.mark.parametrize("field, token, answer", [
    ("xt1 5", "t1", None),             # the token's text inside another token
    ("9t1 5", "t1", None),             # ... after digits, as an id's could be
    ("xt1 5 t1 7", "t1", -7),          # inside one word, then whole in another
    ("t1 4 u2 5", "t1", -4),           # the field's first token
    ("u2 5 t1 8", "t1", -8),
    ("t11 3 t1x 4", "t1", None),       # longer tokens that start like it
])
def test_a_token_is_matched_as_a_whole_word_of_the_writers_field(
    backend: Any, field: str, token: str, answer: int | None
) -> None:
    rivulet.Client(redis=backend, client_id="w", channel_ids="ch")
    backend.set(keys.id_key("ch"), 10)
    backend.hset(keys.meta_key("ch"), "w:w", field)
    write_keys, args = write_call("ch", ['"x"'], mode="sub", writer="w", src="w", token=token)
    assert scripts.WRITE(backend, write_keys, args) == (11 if answer is None else answer)


@pytest.mark.parametrize("field", ["t1 0", "t1 3.5", "t1 abc", "t1 -5", "t1  7", "t1 007",
                                   "t1 99999999999999999999", "t1 9007199254740992", "u2 4 t1 "])
def test_a_write_record_planted_around_the_library_is_refused_not_answered(
    backend: Any, field: str
) -> None:
    # Answering a retried token from a planted record would hand the caller
    # a wrong id (a review saw [0], [3] and [9223372036854775808]).
    rivulet.Client(redis=backend, client_id="w", channel_ids="ch")
    backend.set(keys.id_key("ch"), 10)
    backend.hset(keys.meta_key("ch"), "w:w", field)
    write_keys, args = write_call("ch", ['"x"'], mode="sub", writer="w", src="w", token="t1")
    with pytest.raises(rivulet.BackendError, match=r"write record w:w .* is not rivulet's"):
        try:
            scripts.WRITE(backend, write_keys, args)
        except Exception as error:
            raise rivulet.exceptions.translate(error) from error
    assert stored(backend, "ch") == []


def test_caps_are_enforced_by_writes(make_client: Any, admin: rivulet.Admin,
                                     backend: Any) -> None:
    c = make_client()
    c.subscribe("ch")
    c.write("ch", [str(i) for i in range(5)])
    admin.set_retention("ch", max_messages=3)
    assert stored(backend, "ch") == [3, 4, 5]
    c.write("ch", ["6", "7"])
    assert stored(backend, "ch") == [5, 6, 7]


def test_ping_context_manager_and_repr(backend: Any) -> None:
    with rivulet.Client(redis=backend, client_id="me") as c:
        assert c.ping() is True
        assert "me" in repr(c)


def test_client_ids_default_to_fresh_uuids(backend: Any) -> None:
    a, b = rivulet.Client(redis=backend), rivulet.Client(redis=backend)
    assert a.client_id != b.client_id and len(a.client_id) == 32


def test_decoding_clients_work_too(redis_server: Any, fake_redis: Any) -> None:
    import fakeredis

    for r in (redis_server.client(decode_responses=True),
              fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True)):
        c = rivulet.Client(redis=r, client_id="d")
        c.subscribe("ch é")
        c.write("ch é", "données")
        assert c.read()["ch é"][0]["data"] == "données"
        assert rivulet.Admin(r).channel("ch é").head_id == 1
        r.flushall()
        c.close()
        r.close()


def test_connect_reads_the_url_from_the_environment(redis_server: Any,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIVULET_REDIS_URL", redis_server.url)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    with rivulet.connect(client_id="env", channel_ids=["ch"]) as c:
        assert c.subscriptions == ["ch"]
        c.unsubscribe("ch")


def test_an_invalid_url_is_reported_without_its_password() -> None:
    with pytest.raises(ValueError, match="invalid Redis URL") as info:
        rivulet.connect("redis://:s3cretpw@127.0.0.1:notaport/0")
    assert "s3cretpw" not in str(info.value)


def test_refused_credentials_are_not_retried(redis_server: Any, real_redis: Any,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    pauses: list[int] = []
    monkeypatch.setattr(rivulet.RetryPolicy, "delay", lambda self, attempt: pauses.append(1) or 0)
    real_redis.config_set("requirepass", "right")
    try:
        url = f"redis://:wrong@127.0.0.1:{redis_server.port}/0"
        with rivulet.connect(url) as c, pytest.raises(rivulet.ConnectionError,
                                                      match="refused the credentials"):
            c.ping()
        assert pauses == []
    finally:
        authed = redis_server.client(password="right")
        authed.config_set("requirepass", "")
        authed.close()


def test_a_client_and_its_options_are_checked(backend: Any) -> None:
    with pytest.raises(TypeError):
        rivulet.Client(redis=backend, redis_url="redis://x")
    with pytest.raises(ValueError):
        rivulet.Client(redis=backend, max_message_bytes=0)
    with pytest.raises(ValueError, match="invalid Redis URL"):
        rivulet.connect("http://nope")


def test_ids_past_ten_to_the_fourteen_keep_every_digit(make_client: Any, backend: Any) -> None:
    # Lua prints numbers as "%.14g"; the scripts must not (1e+14 is no id).
    c = make_client()
    c.subscribe("big")
    backend.set(keys.id_key("big"), 99_999_999_999_998)
    assert c.write("big", ["x", "y", "z"]) == [99_999_999_999_999, 100_000_000_000_000,
                                                100_000_000_000_001]
    assert [m["id"] for m in c.read()["big"]] == [99_999_999_999_999, 100_000_000_000_000,
                                                  100_000_000_000_001]
    assert c.write("big", "after") == [100_000_000_000_002]


def test_huge_counts_are_capped_not_refused(make_client: Any, admin: rivulet.Admin) -> None:
    c = make_client()
    c.subscribe("ch")
    admin.set_retention("ch", max_messages=10**17, max_age=10.0**17)
    c.write("ch", ["a", "b"])
    assert len(c.read(message_limit=10**17)["ch"]) == 2
    c.write("ch", "c")
    assert [m["data"] for m in admin.messages("ch", limit=10**20)] == ["c"]
    assert admin.prune("ch", keep_last=10**20) == 0


def test_latest_moving_forward_deletes_what_all_have_read(make_client: Any,
                                                          backend: Any) -> None:
    a, b = make_client("a"), make_client("b")
    a.subscribe("ch")
    b.subscribe("ch")
    a.write("ch", ["1", "2"])
    a.read()
    b.subscribe("ch", "latest")  # b skips ahead: now everyone has "read" 1 and 2
    assert stored(backend, "ch") == []


def test_a_blocked_read_ends_when_its_last_subscription_is_removed(
    make_client: Any, admin: rivulet.Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader = make_client("reader")
    reader.subscribe("only")
    make_client("other").subscribe("only")  # so removing reader keeps the channel
    waiting = blocked_signal(monkeypatch)
    errors: list[BaseException] = []

    def read() -> None:
        try:
            reader.read(timeout=-1)
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=read)
    thread.start()
    assert waiting.wait(10), "reader never blocked"
    admin.remove_subscriber("only", "reader")  # publishes a wake-up
    thread.join(10)
    assert not thread.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], rivulet.NotSubscribedError)
