"""Wake-ups for blocking reads.

On a standalone Redis a reader waits on its channels' doorbells
(:mod:`rivulet.doorbell`): one connection, and the wake-up brings the
messages with it. Elsewhere -- a cluster, where one XREAD may not span
slots, or while a channel's bell is broken -- it waits on a pub/sub
subscription to each channel's ``rvl:wake:{C}``, which every write publishes
to as well.

On Redis >= 7 the scripts ``SPUBLISH`` and pub/sub readers ``SSUBSCRIBE``: a
shard channel lives on the master owning its slot, so a wake-up never
crosses the cluster bus (a plain ``PUBLISH`` is broadcast to every node).
Redis 6.2 has no sharded pub/sub: ``PUBLISH`` and ``SUBSCRIBE``. Which one a
server speaks is found by trying ``SPUBLISH`` once per client (fakeredis
speaks it too), not by reading version strings.

On pub/sub the read loop subscribes *before* it looks for unread messages,
so a write landing between the look and the wait still wakes the wait (a
doorbell needs nothing before the look: the look reads the bells). A dropped
link, or a shard channel the server unsubscribed us from (its slot moved to
another master), ends the wait at once: pub/sub forgets what was published
while we were not listening, so the caller subscribes again -- at the slot's
new owner -- and looks again.
"""

from __future__ import annotations

import select
import time
from typing import Any

import redis.exceptions as rex

from . import doorbell, keys
from .codec import text
from .scripts import ArgT, KeyT, Script

#: A wait this long with no wake-up ends anyway, and the caller looks again:
#: cheap insurance against a link that died without telling us.
HEARTBEAT_S = 30.0
#: How long to wait for the server to confirm a SUBSCRIBE.
CONFIRM_S = 5.0
#: The scripts' publish-command argument (see write.lua's header).
SPUBLISH = "spublish"
PUBLISH = "publish"
#: SSUBSCRIBE answered MOVED this many times in a row: give up for this call
#: (the caller's retry layer decides whether to try again).
_MOVED_ATTEMPTS = 3

#: A doorbell wait carries the reads of at most this many channels.
MAX_RIDING_READS = 8

_WAKE_TYPES = frozenset({"message", "smessage"})


def _is_cluster(redis: Any) -> bool:
    # Duck-typed so that any RedisCluster-like client (and no standalone one)
    # is routed per shard.
    return hasattr(redis, "nodes_manager") and hasattr(redis, "get_node_from_key")


class Publisher:
    """Which publish command this server speaks, found once and remembered."""

    def __init__(self, redis: Any) -> None:
        self._redis = redis
        self._command: str | None = None

    def command(self, channel: str) -> str:
        """``"spublish"`` on a server with sharded pub/sub, else ``"publish"``.

        The first call probes with an ``SPUBLISH`` of ``0`` to ``channel``'s
        wake-up channel: at worst a reader looks once more and finds nothing.
        """
        if self._command is None:
            self._command = self._probe(keys.wake_channel(channel))
        return self._command

    def _probe(self, wake: str) -> str:
        target = self._redis
        if _is_cluster(target):
            # Straight to the slot's owner: redis-py's cluster routing of an
            # unknown command (6.2) would fail before the server could say so.
            target = target.get_redis_connection(target.get_node_from_key(wake))
        try:
            target.execute_command("SPUBLISH", wake, 0)
        except (rex.MovedError, rex.AskError):
            return SPUBLISH  # a stale slot map, but the server knows the command
        except rex.ResponseError:
            return PUBLISH  # "unknown command": Redis < 7
        return SPUBLISH


#: One read-script call: the script, its keys, its arguments.
Read = tuple[Script, list[KeyT], list[ArgT]]


class Wakeup:
    """One client's wake-ups: its doorbell connection on a standalone Redis;
    else (and while a channel's bell is broken) its pub/sub connections, one
    per shard on a cluster with sharded pub/sub, else one."""

    def __init__(self, redis: Any, publisher: Publisher | None = None) -> None:
        self._redis = redis
        self.publisher = publisher or Publisher(redis)
        self.doorbell = doorbell.for_redis(redis)
        self.ringing = False  # this wait is on the doorbell, not pub/sub
        # From the last look: (bell key, id seen) per channel, or None when
        # some bell could not be read; the read scripts to send behind the
        # wait; and their replies once a wait ran them.
        self._bells: list[tuple[str, str]] | None = None
        self._reads: list[Read] = []
        self._replies: list[Any] | None = None
        self._ran: list[Read] = []
        self._links: dict[str, Any] = {}  # node name ("" off-cluster) -> PubSub
        self._where: dict[str, str] = {}  # wake-up channel -> node name
        self._leaving: set[str] = set()  # unsubscribed by us, confirmation not yet seen
        self._hooked: dict[str, Any] = {}  # node name -> the link's connection we watch
        self._stale = False  # a subscription was dropped or redone: look again
        self._refresh = False  # a link failed: the cluster's slot map may be stale

    def watch(self, channels: list[str]) -> None:
        """Be ready to hear the wake-ups of ``channels`` (subscribed, confirmed
        by the server, when on pub/sub) before the caller looks."""
        if not channels or self.on_doorbell():
            return
        try:
            sharded = self.publisher.command(channels[0]) == SPUBLISH
            wanted = [keys.wake_channel(c) for c in channels]
            if self._refresh and sharded and _is_cluster(self._redis):
                # A failover moves slots without a MOVED to tell us.
                self._redis.nodes_manager.initialize()
            self._refresh = False
            for attempt in range(_MOVED_ATTEMPTS):
                try:
                    self._subscribe(wanted, sharded)
                    break
                except (rex.MovedError, rex.AskError):
                    # The slot moved: learn the new owners, start over there.
                    self._close_links()
                    if attempt == _MOVED_ATTEMPTS - 1:
                        raise
                    self._redis.nodes_manager.initialize()
            self._stale = False
        except Exception:
            self._close_links()
            self._refresh = True
            raise

    def _owner(self, wake: str, sharded: bool) -> str:
        if sharded and _is_cluster(self._redis):
            return str(self._redis.get_node_from_key(wake).name)
        return ""

    def _link(self, node: str) -> Any:
        link = self._links.get(node)
        if link is None:
            if node:
                owner = self._redis.get_node(node_name=node)
                source = self._redis.get_redis_connection(owner)
            else:
                source = self._redis
            link = source.pubsub(ignore_subscribe_messages=False)
            self._links[node] = link
        return link

    def _subscribe(self, wanted: list[str], sharded: bool) -> None:
        want = {w: self._owner(w, sharded) for w in wanted}
        # Leave what is no longer wanted, or now lives on another node.
        leave: dict[str, list[str]] = {}
        for wake, node in self._where.items():
            if want.get(wake) != node:
                leave.setdefault(node, []).append(wake)
        for node, gone in leave.items():
            link = self._links[node]
            if sharded:
                for wake in gone:  # one slot per command, as SSUBSCRIBE below
                    link.sunsubscribe(wake)
            else:
                link.unsubscribe(*gone)
            self._leaving.update(gone)
            for wake in gone:
                del self._where[wake]
        join: dict[str, list[str]] = {}
        for wake, node in want.items():
            if wake not in self._where:
                join.setdefault(node, []).append(wake)
        # Every node's subscriptions go out before any confirmation is awaited,
        # so joining channels on many shards still costs one round trip. A
        # cluster refuses one SSUBSCRIBE over several slots: one per channel.
        for node, new in join.items():
            link = self._link(node)
            if sharded:
                for wake in new:
                    link.ssubscribe(wake)
            else:
                link.subscribe(*new)
            self._hook(node, link)
        for node, new in join.items():
            self._confirm(self._links[node], set(new), "ssubscribe" if sharded else "subscribe")
            for wake in new:
                self._where[wake] = node
        for node in [n for n in self._links if n not in self._where.values()]:
            conn = self._hooked.pop(node, None)
            if conn is not None:
                _unhook(conn, self._reconnected)
            self._links.pop(node).close()

    def _hook(self, node: str, link: Any) -> None:
        # redis-py may reconnect a pub/sub link and re-subscribe by itself
        # (when its retries are on); what was published meanwhile is lost,
        # so that counts as a drop: the reader must look again.
        conn = link.connection
        if self._hooked.get(node) is not conn and hasattr(conn, "register_connect_callback"):
            conn.register_connect_callback(self._reconnected)
            self._hooked[node] = conn

    def _reconnected(self, connection: Any) -> None:
        self._stale = True

    def _confirm(self, link: Any, pending: set[str], kind: str) -> None:
        # subscribe() returns before the server has it; only the confirmation
        # guarantees that a later publish reaches us.
        deadline = time.monotonic() + CONFIRM_S
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise rex.TimeoutError("Redis did not confirm the wake-up subscription")
            reply = link.get_message(timeout=left)
            if reply is None:
                continue
            if text(reply["type"]) == kind:
                pending.discard(text(reply["channel"]))
            else:
                self._note(reply)

    def _note(self, reply: dict[str, Any]) -> bool:
        """Account for one pub/sub reply; True when the reader should look again."""
        kind = text(reply["type"])
        if kind in _WAKE_TYPES:
            return True
        if kind in ("sunsubscribe", "unsubscribe"):
            channel = text(reply["channel"])
            if channel in self._leaving:
                self._leaving.discard(channel)
            elif channel in self._where:
                # Pushed by the server: the slot migrated. Subscribe afresh
                # at its new owner on the next watch, and look again now.
                del self._where[channel]
                self._stale = True
                return True
        return False

    def on_doorbell(self) -> bool:
        """Whether the next wait is on the doorbell, decided here: True when
        it is, and then nothing need be done before the look (the look reads
        the bells). Pub/sub when there is no doorbell, or the last look found
        a bell broken."""
        self.ringing = self.doorbell is not None and (
            self._bells is not None or not self._reads)
        if self.ringing and self._links:
            self._close_links()
        return self.ringing

    def looked(self, bells: list[tuple[str, str]] | None, reads: list[Read]) -> None:
        """What the caller's look saw: each channel's ``(bell key, id)`` (None
        when some bell is broken), and the reads that look sent, to send
        again behind a doorbell wait."""
        self._bells = bells
        self._reads = reads

    def replies(self, reads: list[Read]) -> list[Any] | None:
        """The replies of ``reads`` if the last wait ran them (each a value or
        the error reply), once; else None. Kept until asked for: a read that
        ran may have moved an index, so its messages must not be dropped."""
        replies, self._replies = self._replies, None
        if replies is None or self._ran != reads:
            return None
        return replies

    def wait(self, timeout: float | None) -> None:
        """Return when a wake-up arrives, ``timeout`` seconds pass (None: no
        limit) or the link drops."""
        if self.ringing:
            self._ring_wait(timeout)
            return
        if not self._links or self._stale:
            return
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = HEARTBEAT_S if deadline is None else deadline - time.monotonic()
            if left <= 0:
                return
            try:
                if self._wait_once(min(left, HEARTBEAT_S)) or self._stale:
                    return
                if deadline is None:
                    return  # heartbeat: let the caller look again
            except (rex.ConnectionError, rex.TimeoutError, OSError):
                self._close_links()
                self._refresh = True
                return

    def _ring_wait(self, timeout: float | None) -> None:
        bells = self._bells
        if self.doorbell is None or not bells:
            return  # a bell is broken: look again, then wait on pub/sub
        # Reads ride behind the wait only for a few channels: each costs the
        # server a script run per wake-up, wherever the write went.
        reads = self._reads if len(self._reads) <= MAX_RIDING_READS else []
        wait_s = HEARTBEAT_S if timeout is None else min(timeout, HEARTBEAT_S)
        try:
            replies = self.doorbell.wait(bells, reads, wait_s)
        except (rex.RedisError, OSError):
            # Look again. The next wait is on pub/sub, whose subscribing has
            # the retry layer's backoff: a server refusing new links costs
            # the caller its budget, not a loop of looks.
            self._bells = None
            return
        self._replies = replies if reads else None
        self._ran = reads

    def _wait_once(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for pub/sub traffic on any link; True when
        the reader should look again. Returns False after the timeout, or
        after replies that wake nobody, with time possibly left."""
        links = list(self._links.values())
        if len(links) == 1:
            reply = links[0].get_message(timeout=timeout)
            woke = reply is not None and self._note(reply)
            if woke:
                self._drain(links)
            return woke
        # Several shards: anything already buffered first, then block on all
        # sockets at once -- event-driven, no polling round.
        if self._drain(links):
            return True
        socks: list[Any] = []
        for link in links:
            sock = getattr(link.connection, "_sock", None)
            if sock is None:
                raise rex.ConnectionError("a wake-up link is disconnected")
            socks.append(sock)
        ready, _, _ = select.select(socks, [], [], timeout)
        return bool(ready) and self._drain(links)

    def _drain(self, links: list[Any]) -> bool:
        """Read every reply already arrived (a burst of wake-ups is one look)."""
        woke = False
        for link in links:
            while (reply := link.get_message(timeout=0)) is not None:
                woke = self._note(reply) or woke
        return woke

    def close(self) -> None:
        """Release every connection (reading first what the doorbell still has due)."""
        self._close_links()
        if self.doorbell is not None:
            self.doorbell.close()

    def _close_links(self) -> None:
        for conn in self._hooked.values():
            _unhook(conn, self._reconnected)
        self._hooked = {}
        for link in self._links.values():
            try:
                link.close()
            except (rex.RedisError, OSError):
                pass
        self._links = {}
        self._where = {}
        self._leaving = set()


def _unhook(conn: Any, callback: Any) -> None:
    """Undo ``register_connect_callback``. redis-py 5.0.0 (which pyproject.toml
    allows) has no ``deregister_connect_callback``; there the callbacks are a
    list of weak methods, dropped by what they point at."""
    if hasattr(conn, "deregister_connect_callback"):
        conn.deregister_connect_callback(callback)
        return
    callbacks = getattr(conn, "_connect_callbacks", None)
    if callbacks is not None:
        conn._connect_callbacks = [ref for ref in callbacks if ref() != callback]
