"""The designs rivulet is measured against, written the way a redis-py user would.

- Redis Streams: ``XADD``, pipelined ``XADD``s, ``XREAD COUNT``, ``XREAD BLOCK``;
- the seed's lock-per-message design: ``SET lock NX PX``, ``INCR``, ``ZADD``, ``DEL``,
  each its own round trip.

Keys live under ``bench:`` so they never meet rivulet's ``rvl:`` keyspace.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import redis

LOCK_TTL_MS = 1000


def stream_entries(reply: Any, key: str) -> list[Any]:
    """The entries of ``key`` in an XREAD reply (RESP3 gives a dict, RESP2 a list)."""
    if not reply:
        return []
    if isinstance(reply, dict):
        return list(reply[key][0])
    return list(reply[0][1])


class Streams:
    """One stream key and the redis-py calls a Streams user makes on it."""

    def __init__(self, r: redis.Redis, key: str, src: str) -> None:
        self.r = r
        self.key = key
        self.src = src
        self._last_id = "0-0"

    def xadd(self, data: str) -> str:
        # The same fields rivulet stores (its id and ts are the entry id's parts).
        return str(self.r.xadd(self.key, {"src": self.src, "data": data}))

    def xadd_pipelined(self, batch: list[str]) -> list[Any]:
        pipe = self.r.pipeline(transaction=False)
        for data in batch:
            pipe.xadd(self.key, {"src": self.src, "data": data})
        return pipe.execute()

    def xread(self, count: int) -> list[Any]:
        """One XREAD COUNT after the last entry read; the cursor moves past what it got."""
        entries = stream_entries(self.r.xread({self.key: self._last_id}, count=count), self.key)
        if entries:
            self._last_id = entries[-1][0]
        return entries

    def delete(self) -> None:
        self.r.delete(self.key)


class LockedChannel:
    """The seed's data model with a lock per message instead of a script.

    Each write takes ``SET lock NX PX``, ``INCR``s the id counter, ``ZADD``s the packed
    message and ``DEL``s the lock: four round trips, as the seed's README describes.
    """

    def __init__(self, r: redis.Redis, name: str, src: str) -> None:
        self.r = r
        self.src = src
        self.lock_key = f"bench:lock:{{{name}}}"
        self.id_key = f"bench:id:{{{name}}}"
        self.msg_key = f"bench:msg:{{{name}}}"

    def write(self, data: str) -> int:
        token = uuid.uuid4().hex
        while not self.r.set(self.lock_key, token, nx=True, px=LOCK_TTL_MS):
            time.sleep(0.0005)  # another writer holds it (never, with one writer)
        try:
            msg_id = int(self.r.incr(self.id_key))
            message = {"id": msg_id, "ts": int(time.time() * 1000), "src": self.src,
                       "data": data}
            self.r.zadd(self.msg_key, {json.dumps(message, separators=(",", ":")): msg_id})
        finally:
            self.r.delete(self.lock_key)
        return msg_id

    def delete(self) -> None:
        self.r.delete(self.lock_key, self.id_key, self.msg_key)


class PackedStreams:
    """``XADD`` as fast as one synchronous redis-py client can send it: one
    connection kept out of the pool, each command packed and sent by hand,
    no command layer. The physical limit rivulet's single write is held to."""

    def __init__(self, r: redis.Redis, key: str, src: str) -> None:
        self.r = r
        self.key = key
        self.src = src
        self._conn = r.connection_pool.get_connection()

    def xadd(self, data: str) -> Any:
        conn = self._conn
        conn.send_packed_command(
            conn.pack_command("XADD", self.key, "*", "src", self.src, "data", data), False)
        return conn.read_response()

    def delete(self) -> None:
        self.r.connection_pool.release(self._conn)
        self.r.delete(self.key)
