"""The listing and /metrics through one compact script per channel
(lagscan.lua) against what they were before it, on the same hostile data.

The "before" here is 2eb8200's code, kept verbatim in this module: channels()
as info.lua, subscribers.lua and the whole history per channel, judged by the
status rules as they were written then. Every row must come out the same,
broken keys, planted members, odd scores and hostile names included; only
what is read off Redis's clock a moment apart may differ by that moment.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rivulet
from rivulet import history, keys, scripts, status
from rivulet.codec import text
from rivulet.exceptions import ChannelNotFoundError, InvalidNameError, RivuletError
from rivulet.models import ChannelInfo, SubscriberInfo
from rivulet.names import validate_name

WINDOW, STOP_AFTER = 120.0, 60.0

# -- 2eb8200's status rules, verbatim (rivulet/status.py then) -----------------


@dataclasses.dataclass(frozen=True)
class OldPoint:
    ts: int
    index: int
    head: int

    @property
    def lag(self) -> int:
        return max(0, self.head - self.index)


def old_baseline(points: Sequence[Any], now_ms: int, window_s: float) -> Any:
    start = now_ms - window_s * 1000
    found = None
    for point in points:
        if point.ts > start:
            break
        found = point
    return found


def old_rate(before: int, after: int, before_ms: int, after_ms: int) -> float | None:
    if after_ms <= before_ms:
        return None
    return max(0, after - before) * 1000 / (after_ms - before_ms)


def old_judge(*, index: int, head: int, last_read_ts: int | None, subscribed_ts: int | None,
              points: Sequence[Any], now_ms: int, window_s: float,
              stop_after_s: float) -> tuple[str, float | None, float | None]:
    lag = max(0, head - index)
    if subscribed_ts is not None:
        points = [p for p in points if p.ts >= subscribed_ts]
    start = old_baseline(points, now_ms, window_s)
    read_rate = old_rate(start.index, index, start.ts, now_ms) if start else None
    if index > head:
        return (status.BEYOND_HEAD, read_rate, None)
    if lag == 0:
        return (status.CAUGHT_UP, read_rate, None)
    alive_since = last_read_ts
    if alive_since is None:
        alive_since = subscribed_ts if subscribed_ts is not None else (
            points[0].ts if points else None)
    subscribed_since = subscribed_ts if subscribed_ts is not None else alive_since
    new = subscribed_since is None or now_ms - subscribed_since < stop_after_s * 1000
    if not new and alive_since is not None and now_ms - alive_since >= stop_after_s * 1000:
        return (status.STOPPED, read_rate, None)
    if start is None:
        return (status.BEHIND, read_rate, None)
    window = [p for p in points if p.ts >= start.ts]
    if all(p.index == index for p in window):
        return (status.STALLED, read_rate, None)
    if lag >= start.lag:
        return (status.FALLING_BEHIND, read_rate, None)
    closing = (start.lag - lag) * 1000 / max(1, now_ms - start.ts)
    return (status.CATCHING_UP, read_rate, lag / closing)


def old_lag_seconds(*, stored_age_s: float, lag: int, pending: int, points: Sequence[Any],
                    index: int, now_ms: int) -> float:
    if lag <= 0:
        return 0.0
    if pending >= lag:
        return stored_age_s
    since = None
    for point in points:
        if point.head > index:
            since = point.ts
            break
    if since is None:
        return stored_age_s
    return max(stored_age_s, max(0, now_ms - since) / 1000)


def old_worst(statuses: Iterable[str]) -> str:
    return max(statuses, key=status.SEVERITY.index, default=status.CAUGHT_UP)


# -- 2eb8200's listing, verbatim but for the names above ------------------------


def _none(value: Any) -> int | None:
    number = int(value)
    return None if number < 0 else number


def _age_s(now_ms: int, ts: int) -> float:
    return 0.0 if ts < 0 else max(0.0, (now_ms - ts) / 1000)


def old_subscriber_rows(channel: str, reply: list[Any], hist: Any) -> list[SubscriberInfo]:
    snapshots = [] if isinstance(hist, Exception) else history.parse(hist)
    head, now = int(reply[1]), int(reply[2])
    rows = []
    flat = reply[3:]
    for i in range(0, len(flat), 6):
        client, index, pending, oldest_ts, read_ts, since = flat[i:i + 6]
        client, index, pending = text(client), int(index), int(pending)
        lag = max(0, head - index)
        points = [OldPoint(s.ts, s.indexes[client], s.head_id)
                  for s in snapshots if client in s.indexes]
        verdict, read_rate, eta_s = old_judge(
            index=index, head=head, last_read_ts=_none(read_ts), subscribed_ts=_none(since),
            points=points, now_ms=now, window_s=WINDOW, stop_after_s=STOP_AFTER)
        rows.append(SubscriberInfo(
            channel=channel, client_id=client, index=index, lag=lag, pending=pending,
            lag_seconds=old_lag_seconds(
                stored_age_s=_age_s(now, int(oldest_ts)) if pending else 0.0, lag=lag,
                pending=pending, points=points, index=index, now_ms=now),
            last_read_ts=_none(read_ts), beyond_head=index > head, status=verdict,
            read_rate=read_rate, eta_s=eta_s))
    return rows


def old_judged_channel(row: ChannelInfo, subs: list[Any], hist: Any) -> ChannelInfo:
    subscribers = old_subscriber_rows(row.name, subs, hist)
    snapshots = [] if isinstance(hist, Exception) else history.parse(hist)
    now = int(subs[2])
    start = old_baseline([OldPoint(s.ts, 0, s.head_id) for s in snapshots], now, WINDOW)
    write_rate = old_rate(start.head, row.head_id, start.ts, now) if start else None
    worst_lag_s = max((r.lag_seconds for r in subscribers), default=0.0)
    return dataclasses.replace(
        row, status=old_worst(r.status for r in subscribers), write_rate=write_rate,
        max_lag_seconds=max(row.max_lag_seconds, worst_lag_s) if row.max_lag else 0.0)


def old_channel_info(name: str, r: list[Any], problem: str | None = None) -> ChannelInfo:
    (_, head, count, oldest_id, oldest_ts, newest_id, newest_ts, subs, min_index,
     unread_ts, last_write, max_messages, max_age_ms, now) = (int(v) for v in r)
    max_lag = max(0, head - min_index) if subs else 0
    return ChannelInfo(
        name=name, head_id=head, message_count=count,
        oldest_id=_none(oldest_id), newest_id=_none(newest_id),
        oldest_ts=_none(oldest_ts), newest_ts=_none(newest_ts),
        subscriber_count=subs, max_lag=max_lag,
        max_lag_seconds=_age_s(now, unread_ts) if max_lag else 0.0,
        last_write_ts=_none(last_write), max_messages=_none(max_messages),
        max_age=None if max_age_ms < 0 else max_age_ms / 1000, error=problem)


def old_infos(admin: rivulet.Admin, names: list[str],
              skip_missing: bool = True) -> list[ChannelInfo]:
    batch = scripts.Batch()
    for name in names:
        try:
            batch.script(scripts.INFO, keys.channel_keys(validate_name(name))[:5], [])
            batch.script(scripts.SUBSCRIBERS, keys.reader_keys(name), [])
            batch.command("lrange", keys.history_key(name), 0, -1)
        except InvalidNameError as error:
            batch.constant(error)
            batch.constant(error)
            batch.constant(error)
    rows = []
    results = admin._run(batch, "channel info", strict=False)
    for name, reply, subs, hist in zip(names, results[0::3], results[1::3], results[2::3]):
        if isinstance(reply, RivuletError):
            rows.append(ChannelInfo(name, 0, 0, None, None, None, None, 0, 0, 0.0, None,
                                    error=str(reply), status=status.ERROR))
        elif not int(reply[0]):
            if not skip_missing:
                raise ChannelNotFoundError(name)
        else:
            row = old_channel_info(name, reply[:14], text(reply[14]) or None)
            if not isinstance(subs, Exception) and int(subs[0]):
                row = old_judged_channel(row, subs, hist)
            rows.append(row)
    return rows


def old_subscribers_many(admin: rivulet.Admin, names: list[str]) -> dict[str, Any]:
    batch = scripts.Batch()
    for name in names:
        batch.script(scripts.SUBSCRIBERS, keys.reader_keys(name), [])
        batch.command("lrange", keys.history_key(name), 0, -1)
    found = {}
    replies = admin._run(batch, "subscribers", strict=False)
    for name, reply, hist in zip(names, replies[0::2], replies[1::2]):
        if not isinstance(reply, RivuletError) and int(reply[0]):
            found[name] = old_subscriber_rows(name, reply, hist)
    return found


# -- the same hostile data for both ---------------------------------------------


def _server_ms(redis: Any) -> int:
    seconds, micros = redis.time()
    return int(seconds) * 1000 + int(micros) // 1000


def _snapshot(ts: int, head: int, indexes: dict[str, int]) -> str:
    return "\n".join([f"{ts} {head}", *(f"{i}\t{c}" for c, i in indexes.items())])


HOSTILE_CHANNEL = 'q"uote\\d ü/名'
HOSTILE_CLIENT = 'sl"o\\w reader ✓'


def hostile(redis: Any, make_client: Any) -> list[str]:
    """Channels in every state the listing distinguishes, with names,
    scores, times and history written around the library; returns the
    registered names (an invalid one, a gone one and a key-less one too)."""
    writer = make_client("writer")
    fast, slow, odd = make_client("fast"), make_client(HOSTILE_CLIENT), make_client("odd")
    plain = ["plain", HOSTILE_CHANNEL, "empty", "planted", "pruned", "odd-index", "odd-times",
             "garbage-history", "long-history", "hist-wrongtype", "hcfg-wrongtype",
             "newline-client", "separator-history", "meta-wrongtype", "read-wrongtype",
             "counter-garbage", "msg-wrongtype", "sub-wrongtype"]
    for client in (writer, fast, slow, odd):
        client.subscribe(plain, "earliest")
    for name in plain:
        if name != "empty":
            writer.write(name, [f"m{i}" for i in range(12)])
    fast.read()
    slow.read(message_limit=3)
    now = _server_ms(redis)
    old = now - 1_000_000
    for name in plain:
        for client in ("writer", "fast", HOSTILE_CLIENT, "odd"):
            redis.hset(keys.history_settings_key(name), f"s:{client}", old)
        redis.delete(keys.history_key(name))
        redis.rpush(keys.history_key(name),
                    _snapshot(now - 400_000, 2, {"fast": 0, HOSTILE_CLIENT: 0, "odd": 0}),
                    _snapshot(now - 200_000, 6, {"fast": 2, HOSTILE_CLIENT: 1, "odd": 0,
                                                 "writer": 0}),
                    _snapshot(now - 30_000, 12, {"fast": 12, HOSTILE_CLIENT: 3, "odd": 0,
                                                 "writer": 0}))
    redis.zadd(keys.msg_key("planted"), {"not ours": 2**60, "nor this": -1, "half": 2.5})
    redis.zpopmin(keys.msg_key("pruned"), 5)  # pruned unread: history gives the time lag
    redis.zadd(keys.channel_key("odd-index"), {"odd": 2.5, "fast": math.inf})
    redis.zadd(keys.channel_key("odd-index"), {"writer": -math.inf})
    redis.zadd(keys.read_key("odd-times"), {"odd": 1.5, "fast": -0.5})
    redis.hset(keys.history_settings_key("odd-times"),
               mapping={"s:odd": "abc", "s:fast": "-0.5", "s:writer": "0x10"})
    redis.lpush(keys.history_key("garbage-history"), "nonsense", f"{now - 500_000} 1\nbad",
                f"{now + 5_000} 12\n12\tfast", "")
    redis.delete(keys.history_key("long-history"))
    redis.rpush(keys.history_key("long-history"), *[
        _snapshot(now - 3_000_000 + k * 10_000, k // 25, {"fast": k // 30, "odd": 0})
        for k in range(300)])
    redis.delete(keys.history_key("hist-wrongtype"))
    redis.set(keys.history_key("hist-wrongtype"), "not a list")
    redis.delete(keys.history_settings_key("hcfg-wrongtype"))
    redis.set(keys.history_settings_key("hcfg-wrongtype"), "not a hash")
    redis.zadd(keys.channel_key("newline-client"), {"new\nline": 4, "sep\x1eclient": 5})
    redis.rpush(keys.history_key("separator-history"),
                _snapshot(now - 10_000, 12, {"fast": 12, "odd\x1eclient": 1}))
    redis.delete(keys.meta_key("meta-wrongtype"))
    redis.set(keys.meta_key("meta-wrongtype"), "not a hash")
    redis.delete(keys.read_key("read-wrongtype"))
    redis.set(keys.read_key("read-wrongtype"), "not a zset")
    redis.set(keys.id_key("counter-garbage"), "twelve")
    redis.delete(keys.msg_key("msg-wrongtype"))
    redis.set(keys.msg_key("msg-wrongtype"), "not a zset")
    redis.delete(keys.channel_key("sub-wrongtype"))
    redis.hset(keys.channel_key("sub-wrongtype"), "fast", 1)
    # Registered, but: no keys at all; a name rivulet refuses; only a broken key.
    redis.zadd(keys.CHANNELS, {"gone": 0, "bad name\x00": 0, "meta-only": 0})
    redis.set(keys.meta_key("meta-only"), "not a hash")
    return [text(n) for n in redis.zrange(keys.CHANNELS, 0, -1)]


TIMED = ("max_lag_seconds", "write_rate", "lag_seconds", "read_rate", "eta_s")


def assert_same_rows(new: Sequence[Any], old: Sequence[Any], slack_s: float) -> None:
    """Equal rows, but for values read off Redis's clock up to ``slack_s`` apart."""
    assert [r.name if hasattr(r, "name") else r.client_id for r in new] == [
        r.name if hasattr(r, "name") else r.client_id for r in old]
    for ours, theirs in zip(new, old):
        mine, their = dataclasses.asdict(ours), dataclasses.asdict(theirs)
        for field in TIMED:
            if field in mine:
                a, b = mine.pop(field), their.pop(field)
                assert (a is None) == (b is None), (ours, theirs)
                if a is not None and field.endswith("seconds"):
                    assert b - 0.001 <= a <= b + slack_s + 0.002, (field, ours, theirs)
                elif a is not None:  # a rate or an ETA: over a window or more
                    assert a == pytest.approx(b, rel=1e-3 + slack_s / WINDOW), (field, ours,
                                                                               theirs)
        assert mine == their


def test_the_listing_is_what_info_subscribers_and_history_gave(
    backend: Any, make_client: Any
) -> None:
    names = hostile(backend, make_client)
    admin = rivulet.Admin(backend, window=WINDOW, stop_after=STOP_AFTER)
    started = time.monotonic()
    old = old_infos(admin, names)
    new = admin.channels()
    assert_same_rows(new, old, time.monotonic() - started)
    by_name = {row.name: row for row in new}
    # The data reached every branch it was planted for.
    assert by_name["planted"].error and "2 member(s)" in by_name["planted"].error
    for broken in ("meta-wrongtype", "read-wrongtype", "counter-garbage", "msg-wrongtype",
                   "sub-wrongtype", "bad name\x00"):
        assert by_name[broken].status == status.ERROR, broken
    assert "gone" not in by_name and "meta-only" not in by_name
    assert by_name["plain"].status != status.CAUGHT_UP
    assert by_name["pruned"].max_lag_seconds > 300  # from the history, not the stored age


def test_one_channel_is_what_it_was(backend: Any, make_client: Any) -> None:
    names = hostile(backend, make_client)
    admin = rivulet.Admin(backend, window=WINDOW, stop_after=STOP_AFTER)
    for name in names:
        try:
            validate_name(name)
        except InvalidNameError:
            continue
        started = time.monotonic()
        try:
            old: list[Any] = old_infos(admin, [name], skip_missing=False)
        except ChannelNotFoundError:
            with pytest.raises(ChannelNotFoundError):
                admin.channel(name)
            continue
        new = [admin.channel(name)]
        assert_same_rows(new, old, time.monotonic() - started)


def test_the_scan_is_what_the_listing_says(backend: Any, make_client: Any) -> None:
    names = hostile(backend, make_client)
    admin = rivulet.Admin(backend, window=WINDOW, stop_after=STOP_AFTER)
    started = time.monotonic()
    listed = old_infos(admin, names)
    subscribers = old_subscribers_many(admin, [c.name for c in listed if c.error is None])
    scanned = admin.lag_scan()
    slack = time.monotonic() - started
    by_name = {row.name: row for row in scanned}
    # The one difference, kept from the scan before: a registered channel
    # whose only key is broken is a broken row, not a missing channel.
    assert by_name.pop("meta-only").broken
    assert list(by_name) == [c.name for c in listed]
    for info in listed:
        row = by_name[info.name]
        assert row.broken == (info.status == status.ERROR)
        assert (row.head_id, row.message_count) == (info.head_id, info.message_count)
        if row.broken:
            assert row.subscriber_count == 0 and not row.subscribers
            continue
        assert row.subscriber_count == info.subscriber_count
        assert (row.write_rate is None) == (info.write_rate is None)
        if row.write_rate is not None:
            # Over a span of at least a window, read off clocks up to slack apart.
            assert row.write_rate == pytest.approx(info.write_rate, rel=1e-3 + slack / WINDOW)
        expected = [] if info.error else subscribers[info.name]
        got = [SubscriberInfo(**sub._asdict()) for sub in row.subscribers]
        assert_same_rows(got, expected, slack)
    assert {s.client_id for s in by_name["newline-client"].subscribers} >= {
        "new\nline", "sep\x1eclient"}


def test_the_scan_reads_only_the_history_the_rules_read(backend: Any, make_client: Any) -> None:
    names = hostile(backend, make_client)
    admin = rivulet.Admin(backend, window=WINDOW, stop_after=STOP_AFTER)
    replies = dict(zip(names, rivulet.lagscan.fetch(
        backend, admin.retry, names, lambda b: admin._run(b, "lag scan", strict=False),
        "scan", _server_ms(backend), WINDOW)))
    long = replies["long-history"]
    assert isinstance(long, rivulet.lagscan.Reply)
    # 300 snapshots 10 s apart, the newest 10 s ago: the one 120 s ago (the
    # window's start) and the 11 after it.
    assert len(long.snapshots) == 12
    assert len(backend.lrange(keys.history_key("long-history"), 0, -1)) == 300


# -- the judging itself: today's rules against 2eb8200's ----------------------

point_lists = st.lists(st.tuples(st.integers(0, 400_000), st.integers(0, 60),
                                 st.integers(0, 60)), max_size=8)


@settings(max_examples=400, deadline=None)
@given(index=st.integers(0, 60), head=st.integers(0, 60),
       read_ago=st.one_of(st.none(), st.integers(-1_000, 400_000)),
       subscribed_ago=st.one_of(st.none(), st.integers(-1_000, 400_000)),
       rows=point_lists, pending_cut=st.integers(0, 3), stored_ago=st.integers(-1, 400_000))
def test_the_rules_judge_as_they_did(index: int, head: int, read_ago: int | None,
                                     subscribed_ago: int | None,
                                     rows: list[tuple[int, int, int]], pending_cut: int,
                                     stored_ago: int) -> None:
    now = 10_000_000
    rows = sorted(rows, key=lambda r: -r[0])  # oldest first, as history.parse sorts
    args: dict[str, Any] = dict(
        index=index, head=head, last_read_ts=None if read_ago is None else now - read_ago,
        subscribed_ts=None if subscribed_ago is None else now - subscribed_ago,
        now_ms=now, window_s=WINDOW, stop_after_s=STOP_AFTER)
    new = status.judge(points=[status.Point(now - a, i, h) for a, i, h in rows], **args)
    old = old_judge(points=[OldPoint(now - a, i, h) for a, i, h in rows], **args)
    assert (new.status, new.read_rate, new.eta_s) == old
    lag = max(0, head - index)
    age = 0.0 if stored_ago < 0 else stored_ago / 1000
    timing: dict[str, Any] = dict(stored_age_s=age, lag=lag, pending=max(0, lag - pending_cut),
                                  index=index, now_ms=now)
    assert status.lag_seconds(points=[status.Point(now - a, i, h) for a, i, h in rows],
                              **timing) == old_lag_seconds(
        points=[OldPoint(now - a, i, h) for a, i, h in rows], **timing)
