"""Inspection and operator actions: the only API the dashboard and CLI call.

Every listing costs a constant number of round trips however many rows it
returns: registry reads first, then one pipeline of per-channel scripts.
Reads never write.
"""

from __future__ import annotations

import fnmatch
import logging
import math
import re
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from . import history, keys, lag_rows, lagscan, scripts
from . import search as search_mod
from .client import DEFAULT_MAX_MESSAGE_BYTES, IndexPolicy, write_call
from .codec import MAX_ID, Message, decode_for_display, display_id, encode_batch, text
from .exceptions import (
    ChannelNotFoundError,
    ConnectionError,
    InvalidNameError,
    NotSubscribedError,
    RivuletError,
    TimeoutError,
)
from .models import ChannelInfo, ClientInfo, LagSample, Rows, SubscriberInfo
from .names import validate_name
from .notebook import describe_redis
from .retry import RetryPolicy
from .urls import redis_from_url
from .wakeup import Publisher

log = logging.getLogger("rivulet")
#: Counts and ids above this are capped: doubles (Lua's numbers) are exact up to 2^53.
MAX_INT = 2**53 - 1
_GLOB_SPECIAL = re.compile(r"[*?\[]")


def _none(value: Any) -> int | None:
    number = int(value)
    return None if number < 0 else number


def _age_s(now_ms: int, ts: int) -> float:
    return 0.0 if ts < 0 else max(0.0, (now_ms - ts) / 1000)


def _non_negative(name: str, value: object, kind: type = int) -> Any:
    """``value`` checked, and capped at 2^53 - 1: Redis would read a larger
    count, formatted by Lua as ``1e+17``, as no integer at all."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
        raise TypeError(f"{name} must be {'a number' if kind is float else 'an int'}")
    if value < 0 or (isinstance(value, float) and not math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")
    return min(value, MAX_INT)


class Admin:
    """Management API over one Redis (or Redis Cluster).

    ``Admin(url)`` connects like :func:`rivulet.connect`; ``Admin(redis)``
    takes a ready redis-py (or fakeredis) client. Statuses and rates are
    judged over the last ``window`` seconds of history; a subscriber that
    has not read or committed for ``stop_after`` seconds is ``stopped``.
    """

    def __init__(self, redis_url_or_client: Any = None, *, retry: RetryPolicy | None = None,
                 window: float = 120, stop_after: float = 60, **redis_args: Any) -> None:
        self.retry = retry or RetryPolicy()
        self.window = _non_negative("window", window, float)
        self.stop_after = _non_negative("stop_after", stop_after, float)
        if redis_url_or_client is None or isinstance(redis_url_or_client, str):
            self.redis: Any = redis_from_url(redis_url_or_client, **redis_args)
            self._owns_redis = True
        else:
            if redis_args:
                raise TypeError("pass either a ready redis client or a URL and options, not both")
            self.redis = redis_url_or_client
            self._owns_redis = False
        self._publisher = Publisher(self.redis)

    def __repr__(self) -> str:
        # Names the server a notebook talks to, never its password.
        return f"<rivulet.Admin {describe_redis(self.redis)}>"

    def close(self) -> None:
        if self._owns_redis:
            self.redis.close()

    def ping(self) -> bool:
        """True when Redis answers; raises :class:`ConnectionError` otherwise."""
        return bool(self.retry.run(self.redis.ping, "PING"))

    def _run(self, batch: scripts.Batch, what: str, strict: bool = True) -> list[Any]:
        """``strict=False`` leaves a channel's or client's own error on its row,
        but a node out of reach (a cluster failing over, a link down past the
        retry budget) is raised: a row for it would show zeros that are not so."""
        results = batch.run(self.redis, self.retry, what, strict)
        for result in results:
            if isinstance(result, (ConnectionError, TimeoutError)):
                raise result
        return results

    def _call(self, call: Callable[[], Any], what: str) -> Any:
        return self.retry.run(call, what)

    # -- channels ----------------------------------------------------------

    def channel_names(self, match: str | None = None) -> list[str]:
        """Registered channel names matching ``match`` (a glob), sorted; one round trip."""
        low: str | bytes = "-"
        high: str | bytes = "+"
        if match:
            literal = _GLOB_SPECIAL.split(match, 1)[0].encode("utf-8")
            if literal:
                # Narrow the range to names starting with the glob's literal
                # prefix: [prefix, prefix with its last byte raised). UTF-8
                # never holds 0xFF, so the raised byte stays a byte.
                low = b"[" + literal
                high = b"(" + literal[:-1] + bytes([literal[-1] + 1])
        raw = self._call(lambda: self.redis.zrangebylex(keys.CHANNELS, low, high), "list channels")
        names = [text(n) for n in raw]
        if match:
            names = [n for n in names if fnmatch.fnmatchcase(n, match)]
        return names

    def channel_count(self, match: str | None = None) -> int:
        """How many channels the registry lists (matching ``match``, a glob)."""
        if match is None:
            return int(self._call(lambda: self.redis.zcard(keys.CHANNELS), "count channels"))
        return len(self.channel_names(match))

    def channel_page(self, match: str | None = None, offset: int = 0,
                     limit: int | None = None) -> tuple[Rows[ChannelInfo], int]:
        """One page of :meth:`channels` and the total it is a page of."""
        offset = _non_negative("offset", offset)
        limit = _non_negative("limit", limit)
        if match is None and limit is not None:
            batch = scripts.Batch()
            batch.command("zrangebylex", keys.CHANNELS, "-", "+", offset, limit)
            batch.command("zcard", keys.CHANNELS)
            raw, total = self._run(batch, "list channels")
            names = [text(n) for n in raw]
        else:
            every = self.channel_names(match)
            total = len(every)
            names = every[offset:] if limit is None else every[offset:offset + limit]
        return self._infos(names, skip_missing=True), int(total)

    def channels(self, match: str | None = None, offset: int = 0,
                 limit: int | None = None) -> Rows[ChannelInfo]:
        """Channels sorted by name; ``match`` is a glob (``demo/*``)."""
        return self.channel_page(match, offset, limit)[0]

    def channel(self, name: str) -> ChannelInfo:
        """One channel's numbers.

        :raises ChannelNotFoundError: no such channel.
        """
        return self._infos([validate_name(name)], skip_missing=False)[0]

    def lag_scan(self) -> list[lagscan.ChannelLag]:
        """Every channel's counts and its subscribers' lags, as :meth:`channels`
        and :meth:`subscribers_many` give them, in one compact script per
        channel: what ``/metrics`` needs, in a constant number of round trips."""
        return lagscan.scan(self.redis, self.retry, self.channel_names(),
                            lambda batch: self._run(batch, "lag scan", strict=False),
                            self.window, self.stop_after)

    def _infos(self, names: list[str], skip_missing: bool) -> Rows[ChannelInfo]:
        batch = scripts.Batch()
        for name in names:
            try:
                batch.script(scripts.INFO, keys.channel_keys(validate_name(name))[:5], [])
                # Status and rates need the subscribers and history: same pipeline.
                batch.script(scripts.SUBSCRIBERS, keys.reader_keys(name), [])
                batch.command("lrange", keys.history_key(name), 0, -1)
            except InvalidNameError as error:
                # Registered around the library: report it, send nothing for it.
                batch.constant(error)
                batch.constant(error)
                batch.constant(error)
        rows: Rows[ChannelInfo] = Rows()
        results = self._run(batch, "channel info", strict=False)
        for name, reply, subs, hist in zip(names, results[0::3], results[1::3], results[2::3]):
            if isinstance(reply, InvalidNameError):
                rows.append(_broken_channel(name, str(reply)))
                continue
            if isinstance(reply, RivuletError):
                rows.append(_broken_channel(name, str(reply)))
            elif not int(reply[0]):
                if not skip_missing:
                    raise ChannelNotFoundError(name)
            else:
                # The script's 15th value names members reads skip ("" if none).
                row = _channel_info(name, reply[:14], text(reply[14]) or None)
                if not isinstance(subs, Exception) and int(subs[0]):
                    row = lag_rows.judged_channel(row, subs, hist, self.window, self.stop_after)
                rows.append(row)
        return rows

    def delete_channel(self, name: str) -> bool:
        """Delete a channel and its entry in every subscriber's index; False if
        there was no such channel."""
        name = validate_name(name)
        reply = self.retry.run(
            lambda: scripts.DELETE(self.redis, keys.channel_keys(name),
                                   [keys.wake_channel(name), self._publisher.command(name)]),
            "delete channel",
        )
        self._unregister(name, [text(c) for c in reply[1:]], channel_gone=True)
        return bool(int(reply[0]))

    def rebuild_registry(self) -> int:
        """Find channels and clients written around the library (a SCAN of the
        whole keyspace, not a page operation); returns the channel count."""
        def scan() -> tuple[set[str], set[str]]:
            channels: set[str] = set()
            clients: set[str] = set()
            for key in self.redis.scan_iter(match="rvl:*", count=1000):
                key = text(key)
                if key.startswith(keys.INDEX_PREFIX):
                    clients.add(key[len(keys.INDEX_PREFIX):])
                elif (name := keys.channel_from_key(key)) is not None and any(
                    key == k for k in keys.channel_keys(name)[:3]
                ):
                    channels.add(name)  # invalid names too: listings flag them
            return channels, clients

        channels, clients = self._call(scan, "rebuild registry")
        batch = scripts.Batch()
        batch.command("zrange", keys.CHANNELS, 0, -1)
        batch.command("zrange", keys.CLIENTS, 0, -1)
        listed_channels, listed_clients = self._run(batch, "rebuild registry")
        batch = scripts.Batch()
        for registry, found, listed in ((keys.CHANNELS, channels, listed_channels),
                                        (keys.CLIENTS, clients, listed_clients)):
            stale = {text(n) for n in listed} - found
            if stale:
                batch.command("zrem", registry, *stale)
            if found:
                batch.command("zadd", registry, dict.fromkeys(found, 0))
        self._run(batch, "rebuild registry")
        return len(channels)

    # -- subscribers and clients --------------------------------------------

    def subscribers(self, channel: str) -> Rows[SubscriberInfo]:
        """Every subscriber of a channel with its index and lag.

        :raises ChannelNotFoundError: no such channel.
        """
        return self.subscribers_many([validate_name(channel)])[channel]

    def subscribers_many(self, channels: Iterable[str]) -> dict[str, Rows[SubscriberInfo]]:
        """:meth:`subscribers` of several channels in one round trip; unknown
        channels, and channels whose keys Redis cannot read, are left out."""
        names = [validate_name(c) for c in channels]
        batch = scripts.Batch()
        for name in names:
            batch.script(scripts.SUBSCRIBERS, keys.reader_keys(name), [])
            batch.command("lrange", keys.history_key(name), 0, -1)
        result: dict[str, Rows[SubscriberInfo]] = {}
        replies = self._run(batch, "subscribers", strict=False)
        for name, reply, hist in zip(names, replies[0::2], replies[1::2]):
            if isinstance(reply, RivuletError):
                if len(names) == 1:
                    raise reply
                # One broken channel must not hide every other channel's rows;
                # channels() reports it on its row.
                log.warning("cannot list subscribers of %r: %s", name, reply)
                continue
            if not int(reply[0]):
                if len(names) == 1:
                    raise ChannelNotFoundError(name)
                continue
            result[name] = lag_rows.subscriber_rows(name, reply, hist, self.window,
                                                   self.stop_after)
        return result

    def clients(self, offset: int = 0, limit: int | None = None) -> Rows[ClientInfo]:
        """Clients sorted by id, each with its channels, indexes and lags."""
        offset = _non_negative("offset", offset)
        limit = _non_negative("limit", limit)
        page = -1 if limit is None else limit
        raw = self._call(
            lambda: self.redis.zrangebylex(keys.CLIENTS, "-", "+", offset, page), "list clients"
        )
        ids = [text(c) for c in raw]
        batch = scripts.Batch()
        for client in ids:
            batch.command("zrange", keys.index_key(client), 0, -1, withscores=True)
        replies = self._run(batch, "list clients", strict=False)
        indexes = [
            {} if isinstance(rows, RivuletError) else {
                text(m): display_id(float(s)) for m, s in rows}
            for rows in replies
        ]
        channels = sorted({c for idx in indexes for c in idx})
        heads_batch = scripts.Batch()
        for channel in channels:
            heads_batch.command("get", keys.id_key(channel))
        heads = {
            c: int(h) if isinstance(h, (bytes, str)) and h.isdigit() else 0
            for c, h in zip(channels, self._run(heads_batch, "list clients", strict=False))
        }
        rows: Rows[ClientInfo] = Rows()
        for client, idx, reply in zip(ids, indexes, replies):
            if isinstance(reply, RivuletError):
                rows.append(ClientInfo(client, {}, {}, error=str(reply)))
            elif idx:
                rows.append(
                    ClientInfo(client, idx, {c: max(0, heads[c] - i) for c, i in idx.items()})
                )
        return rows

    def client_count(self) -> int:
        """How many clients the registry lists (some may have left every channel)."""
        return int(self._call(lambda: self.redis.zcard(keys.CLIENTS), "count clients"))

    def set_index(self, channel: str, client_id: str, index_or_policy: int | str) -> int:
        """Move a subscriber to an id in ``[0, head]``, ``earliest`` or ``latest``.

        :raises NotSubscribedError: the client does not read this channel.
        """
        channel = validate_name(channel)
        client_id = validate_name(client_id, "client id")
        if isinstance(index_or_policy, bool):
            raise TypeError("index must be an int or 'earliest'/'latest'")
        if isinstance(index_or_policy, int):
            how, value = "id", index_or_policy
        else:
            policy = IndexPolicy.parse(index_or_policy)
            if policy is IndexPolicy.CURRENT:
                raise ValueError("move a subscriber to an id, 'earliest' or 'latest'")
            how, value = policy.value, 0
        code, index, head = self.retry.run(
            lambda: scripts.SET_INDEX(
                self.redis, keys.channel_keys(channel)[:3], [client_id, how, value]
            ),
            "set index",
        )
        if code == -2:
            raise ChannelNotFoundError(channel)
        if code == 0:
            raise NotSubscribedError(
                f"client {client_id!r} is not subscribed to {channel!r}", channel
            )
        if code == -1:
            raise ValueError(f"index {value} is outside [0, {head}] for channel {channel!r}")
        self._call(
            lambda: self.redis.zadd(keys.index_key(client_id), {channel: int(index)}),
            "set index",
        )
        return int(index)

    def remove_subscriber(self, channel: str, client_id: str) -> bool:
        """Unsubscribe a client; the last one leaving deletes the channel.
        False if it was not subscribed."""
        channel = validate_name(channel)
        client_id = validate_name(client_id, "client id")
        was, deleted, existed = self.retry.run(
            lambda: scripts.UNSUBSCRIBE(self.redis, keys.channel_keys(channel),
                                        [client_id, keys.wake_channel(channel),
                                         self._publisher.command(channel)]),
            "remove subscriber",
        )
        if not int(existed):
            raise ChannelNotFoundError(channel)
        self._unregister(channel, [client_id], channel_gone=bool(int(deleted)))
        return bool(int(was))

    def _unregister(self, channel: str, clients: list[str], channel_gone: bool) -> None:
        """Drop ``channel`` from those clients' rvl:index: mirrors (and from the
        registry when it is gone) in one pipeline; then drop the clients left
        reading nothing from the client registry."""
        batch = scripts.Batch()
        if channel_gone:
            batch.command("zrem", keys.CHANNELS, channel)
        counts = []
        for client in clients:
            batch.command("zrem", keys.index_key(client), channel)
            counts.append(batch.command("zcard", keys.index_key(client)))
        results = self._run(batch, "unregister")
        idle = [c for c, at in zip(clients, counts) if not int(results[at])]
        if idle:
            self._call(lambda: self.redis.zrem(keys.CLIENTS, *idle), "unregister")

    # -- messages ------------------------------------------------------------

    def _with_existence(self, channel: str, what: str, command: str, *args: Any) -> Any:
        """Run one command on a channel in the same round trip as its existence check."""
        batch = scripts.Batch()
        batch.command("exists", *keys.reader_keys(channel)[:3])
        batch.command(command, *args)
        exists, result = self._run(batch, what)
        if not int(exists):
            raise ChannelNotFoundError(channel)
        return result

    def count(self, channel: str) -> int:
        """How many messages the channel stores now."""
        channel = validate_name(channel)
        return int(self._with_existence(channel, "count", "zcard", keys.msg_key(channel)))

    def messages(self, channel: str, after_id: int | None = None, before_id: int | None = None,
                 limit: int = 50, newest_first: bool = True) -> Rows[Message]:
        """Stored messages with ``after_id < id < before_id``; malformed members
        come back with ``malformed: True`` and their raw text as ``data``."""
        channel = validate_name(channel)
        after_id = _non_negative("after_id", after_id)
        before_id = _non_negative("before_id", before_id)
        limit = _non_negative("limit", limit)
        # Only scores that can be ids: a member planted at inf or -1 is left
        # out (channel() reports it) rather than shown at an id it is not.
        low = "0" if after_id is None else f"({after_id}"
        high = str(MAX_ID) if before_id is None else f"({before_id}"
        if newest_first:
            rows = self._with_existence(
                channel, "messages", "zrevrangebyscore", keys.msg_key(channel), high, low,
                0, limit, True,
            )
        else:
            rows = self._with_existence(
                channel, "messages", "zrangebyscore", keys.msg_key(channel), low, high,
                0, limit, True,
            )
        return Rows(decode_for_display(member, score) for member, score in rows)

    def prune(self, channel: str, upto_id: int | None = None, older_than: float | None = None,
              consumed: bool = False, keep_last: int | None = None) -> int:
        """Delete messages meeting any criterion; returns how many went.

        ``older_than`` is in seconds and inclusive. The id counter never moves.
        """
        channel = validate_name(channel)
        upto_id = _non_negative("upto_id", upto_id)
        older_than = _non_negative("older_than", older_than, float)
        keep_last = _non_negative("keep_last", keep_last)
        if upto_id is None and older_than is None and not consumed and keep_last is None:
            raise ValueError("prune needs upto_id, older_than, consumed or keep_last")
        args = [
            "" if upto_id is None else upto_id,
            "" if older_than is None else int(older_than * 1000),
            "1" if consumed else "0",
            "" if keep_last is None else keep_last,
        ]
        return int(self._channel_script(scripts.PRUNE, channel, 3, args, "prune"))

    def set_retention(self, channel: str, max_messages: int | None = None,
                      max_age: float | None = None) -> int:
        """Cap a channel by count and/or age in seconds (None: no cap).
        Applied at once and by every write; returns how many messages went now."""
        channel = validate_name(channel)
        max_messages = _non_negative("max_messages", max_messages)
        max_age = _non_negative("max_age", max_age, float)
        args = ["" if max_messages is None else max_messages,
                "" if max_age is None else int(max_age * 1000)]
        return int(self._channel_script(scripts.RETENTION, channel, 4, args, "set retention"))

    def _channel_script(self, script: scripts.Script, channel: str, nkeys: int,
                        args: list[Any], what: str) -> Any:
        try:
            return self.retry.run(
                lambda: script(self.redis, keys.channel_keys(channel)[:nkeys], args), what
            )
        except ChannelNotFoundError:
            raise ChannelNotFoundError(channel) from None

    def post(self, channel: str, data: str, src: str = "dashboard", create: bool = False) -> int:
        """Inject a message as an operator; returns its id. Needs no
        subscription; an unknown channel is refused unless ``create``."""
        channel = validate_name(channel)
        src = validate_name(src, "src")
        if not isinstance(data, str):
            raise TypeError(f"data must be a str, not {type(data).__name__}")
        encoded = encode_batch([data], DEFAULT_MAX_MESSAGE_BYTES)[0]
        write_keys, args = write_call(
            channel, [encoded], mode="create" if create else "exists", writer=src, src=src,
            token=uuid.uuid4().hex, publish=self._call(
                lambda: self._publisher.command(channel), "wake-up probe"),
        )
        batch = scripts.Batch()
        batch.script(scripts.WRITE, write_keys, args)
        if create:
            batch.command("zadd", keys.CHANNELS, {channel: 0})
        try:
            reply = self._run(batch, "post")[0]
        except ChannelNotFoundError:
            raise ChannelNotFoundError(channel) from None
        return int(reply[0])

    # -- lag history (SPEC section 8) ---------------------------------------

    def set_history(self, channel: str, interval: float | None = history.DEFAULT_INTERVAL_S,
                    keep: float = history.DEFAULT_KEEP_S) -> None:
        """Record a lag snapshot of ``channel`` at most every ``interval``
        seconds (None: stop recording) and keep them for ``keep`` seconds.

        :raises ChannelNotFoundError: no such channel.
        """
        channel = validate_name(channel)
        mapping = history.settings_mapping(interval, keep)
        found = self.retry.run(lambda: scripts.SET_HISTORY(
            self.redis, keys.subscribe_keys(channel),
            [mapping["interval_ms"], mapping["keep_ms"]]), "set history")
        if not int(found):
            raise ChannelNotFoundError(channel)

    def history(self, channel: str, client_id: str | None = None,
                since_ts: int | None = None) -> Rows[LagSample]:
        """The recorded snapshots, one row per subscriber per snapshot,
        oldest first; only ``client_id``'s and those at or after ``since_ts``
        (ms) when given.

        :raises ChannelNotFoundError: no such channel.
        """
        channel = validate_name(channel)
        since_ts = _non_negative("since_ts", since_ts)
        if client_id is not None:
            client_id = validate_name(client_id, "client_id")
        raw = self._with_existence(channel, "history", "lrange", keys.history_key(channel), 0, -1)
        rows: Rows[LagSample] = Rows()
        for snap in history.parse(raw):
            if since_ts is not None and snap.ts < since_ts:
                continue
            for client, index in sorted(snap.indexes.items()):
                if client_id is None or client == client_id:
                    rows.append(LagSample(snap.ts, client, index, snap.head_id,
                                          max(0, snap.head_id - index)))
        return rows

    # -- one client (the dashboard's client page) ----------------------------

    def client_subscribers(self, client_id: str) -> dict[str, Rows[SubscriberInfo]]:
        """Every subscriber of each channel ``client_id`` reads, by channel
        (sorted): the client's own rows, and whether it is any channel's last
        reader. Two round trips: its index mirror, then one pipeline."""
        client_id = validate_name(client_id, "client id")
        raw = self._call(lambda: self.redis.zrange(keys.index_key(client_id), 0, -1),
                         "client channels")
        found = self.subscribers_many(sorted(text(c) for c in raw))
        return {name: rows for name, rows in sorted(found.items())
                if any(s.client_id == client_id for s in rows)}

    def client(self, client_id: str) -> Rows[SubscriberInfo]:
        """``client_id``'s subscriptions, one row per channel it reads, by channel."""
        return Rows(s for rows in self.client_subscribers(client_id).values()
                    for s in rows if s.client_id == client_id)

    def remove_client(self, client_id: str) -> list[str]:
        """Unsubscribe ``client_id`` from every channel it reads; returns those
        channels. One script per channel (each lives in its own hash slot);
        a channel whose last subscriber this was is deleted, as unsubscribe does."""
        left = []
        for subscription in self.client(client_id):
            try:
                if self.remove_subscriber(subscription.channel, client_id):
                    left.append(subscription.channel)
            except ChannelNotFoundError:
                continue  # deleted meanwhile: nothing left to leave
        return left


    # -- search, seek, previews (the dashboard's channel page) ----------------

    def search(self, channel: str, query: str, before_id: int | None = None,
               limit: int = 25) -> search_mod.SearchPage:
        """Stored messages whose data or src contains ``query`` (ASCII letters
        in either case), newest first, below ``before_id``. One call scans at
        most :data:`rivulet.search.SCAN_BUDGET` messages; go on with
        ``before_id=page.resume`` while it is not None."""
        channel = validate_name(channel)
        before_id = _non_negative("before_id", before_id)
        limit = _non_negative("limit", limit)
        return search_mod.search(self.redis, self.retry, channel, query, before_id, limit)

    def seek(self, channel: str, at: int | str) -> int | None:
        """The id of the first stored message written at or after ``at`` (ms
        since the epoch, or ISO-8601 text); None when every one is older."""
        channel = validate_name(channel)
        at_ms = search_mod.parse_time_ms(at) if isinstance(at, str) else _non_negative("at", at)
        return search_mod.first_id_at_or_after(self.redis, self.retry, channel, at_ms)[0]

    def set_index_at(self, channel: str, client_id: str, at: int | str) -> int:
        """Move a subscriber to the last message written before ``at`` (ms or
        ISO-8601), so its next read is the first one written at or after it;
        to the head when every stored message is older. Returns the index."""
        channel = validate_name(channel)
        at_ms = search_mod.parse_time_ms(at) if isinstance(at, str) else _non_negative("at", at)
        found, head = search_mod.first_id_at_or_after(self.redis, self.retry, channel, at_ms)
        return self.set_index(channel, client_id, head if found is None else found - 1)

    def prune_preview(self, channel: str, upto_id: int | None = None,
                      older_than: float | None = None, consumed: bool = False,
                      keep_last: int | None = None) -> search_mod.PrunePreview:
        """What :meth:`prune` with the same criteria would remove, removing
        nothing; prune ``upto_id=preview.upto_id`` to remove exactly that."""
        channel = validate_name(channel)
        upto_id = _non_negative("upto_id", upto_id)
        older_than = _non_negative("older_than", older_than, float)
        keep_last = _non_negative("keep_last", keep_last)
        if upto_id is None and older_than is None and not consumed and keep_last is None:
            raise ValueError("prune needs upto_id, older_than, consumed or keep_last")
        args = [
            "" if upto_id is None else upto_id,
            "" if older_than is None else int(older_than * 1000),
            "1" if consumed else "0",
            "" if keep_last is None else keep_last,
        ]
        return search_mod.prune_preview(self.redis, self.retry, channel, args)

def _channel_info(name: str, r: list[Any], problem: str | None = None) -> ChannelInfo:
    (_, head, count, oldest_id, oldest_ts, newest_id, newest_ts, subs, min_index,
     unread_ts, last_write, max_messages, max_age_ms, now) = (int(v) for v in r)
    max_lag = max(0, head - min_index) if subs else 0
    return ChannelInfo(
        name=name,
        head_id=head,
        message_count=count,
        oldest_id=_none(oldest_id),
        newest_id=_none(newest_id),
        oldest_ts=_none(oldest_ts),
        newest_ts=_none(newest_ts),
        subscriber_count=subs,
        max_lag=max_lag,
        max_lag_seconds=_age_s(now, unread_ts) if max_lag else 0.0,
        last_write_ts=_none(last_write),
        max_messages=_none(max_messages),
        max_age=None if max_age_ms < 0 else max_age_ms / 1000,
        error=problem,
    )


def _broken_channel(name: str, error: str) -> ChannelInfo:
    return ChannelInfo(name, 0, 0, None, None, None, None, 0, 0, 0.0, None, error=error)
