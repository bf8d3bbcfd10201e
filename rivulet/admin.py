"""Inspection and operator actions: the only API the dashboard and CLI call.

Every listing costs a constant number of round trips however many rows it
returns: registry reads first, then one pipeline of per-channel scripts.
Reads never write.
"""

from __future__ import annotations

import fnmatch
import logging
import re
from collections.abc import Iterable

from . import history, keys, lag_rows, lagscan, scripts
from . import search as search_mod
from . import status as status_rules
from .admin_base import non_negative
from .admin_history import HistoryAdmin
from .admin_messages import MessagesAdmin
from .client import IndexPolicy
from .codec import display_id, text
from .exceptions import (
    ChannelNotFoundError,
    NotSubscribedError,
    RivuletError,
)
from .models import ChannelInfo, ClientInfo, Rows, SubscriberInfo
from .names import validate_name

log = logging.getLogger("rivulet")
_GLOB_SPECIAL = re.compile(r"[*?\[]")


class Admin(MessagesAdmin, HistoryAdmin):
    """Management API over one Redis (or Redis Cluster).

    ``Admin(url)`` connects like :func:`rivulet.connect`; ``Admin(redis)``
    takes a ready redis-py (or fakeredis) client. Statuses and rates are
    judged over the last ``window`` seconds of history; a subscriber that
    has not read or committed for ``stop_after`` seconds is ``stopped``.
    """

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
        offset = non_negative("offset", offset)
        limit = non_negative("limit", limit)
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
        # One script per channel gives its numbers, its subscribers' and the
        # history their statuses need (lagscan.lua in "listing" mode).
        replies = lagscan.fetch(self.redis, self.retry, names,
                                lambda batch: self._run(batch, "channel info", strict=False),
                                "listing", None, self.window, "channel info")
        rows: Rows[ChannelInfo] = Rows()
        for name, reply in zip(names, replies):
            if isinstance(reply, RivuletError):
                # A key of the wrong type, or a name registered around the library.
                rows.append(_broken_channel(name, str(reply)))
            elif reply is None:
                if not skip_missing:
                    raise ChannelNotFoundError(name)
            else:
                rows.append(lag_rows.listed_channel(
                    name, reply.header, reply.subscribers, history.parse(reply.snapshots),
                    self.window, self.stop_after))
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
        offset = non_negative("offset", offset)
        limit = non_negative("limit", limit)
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

    def set_index_at(self, channel: str, client_id: str, at: int | str) -> int:
        """Move a subscriber to the last message written before ``at`` (ms or
        ISO-8601), so its next read is the first one written at or after it;
        to the head when every stored message is older. Returns the index."""
        channel = validate_name(channel)
        at_ms = search_mod.parse_time_ms(at) if isinstance(at, str) else non_negative("at", at)
        found, head = search_mod.first_id_at_or_after(self.redis, self.retry, channel, at_ms)
        return self.set_index(channel, client_id, head if found is None else found - 1)

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


def _broken_channel(name: str, error: str) -> ChannelInfo:
    # Nothing about it can be judged: an error state, never "caught up" at lag 0.
    return ChannelInfo(name, 0, 0, None, None, None, None, 0, 0, 0.0, None, error=error,
                       status=status_rules.ERROR)
