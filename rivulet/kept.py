"""One connection kept from a plain standalone client's pool, fork-safe.

The fast write path (:mod:`rivulet.fastpath`) and the doorbell waits
(:mod:`rivulet.doorbell`) each keep a connection of the client's own pool
rather than check one out per call (a checkout costs a readiness poll). What
keeping one must get right is here, once: only a plain ``redis.Redis`` with a
pool qualifies; the connection is checked out on first use; after ``fork()``
the child never touches the parent's socket and takes a fresh connection
from the (by then reset) pool; and only the process that took the
connection hands it back.
"""

from __future__ import annotations

import os
from typing import Any

import redis

from . import forks


def standalone_pool(client: Any) -> Any:
    """The pool of a plain standalone ``redis.Redis``; None for anything else
    (a cluster, a pipeline, an object that only looks like a client, a
    single-connection client, whose one connection is kept already, a pool
    of fewer than :data:`MIN_POOL_TO_KEEP` connections)."""
    if not isinstance(client, redis.Redis):
        return None
    pool = getattr(client, "connection_pool", None)
    if pool is None or getattr(client, "connection", None) is not None:
        return None
    if getattr(pool, "max_connections", None) is not None and (
            pool.max_connections < MIN_POOL_TO_KEEP):
        # A small pool would be starved by what is kept (up to three
        # connections a client: its writes, its blocking reads' waits, a
        # Producer's rounds): every call checks one out instead.
        return None
    return pool


#: The smallest ``max_connections`` of a pool that connections are kept from.
MIN_POOL_TO_KEEP = 8


class KeptConnection:
    """A connection of ``pool`` kept for one user (one thread at a time).

    ``command`` names the first command sent on it, for redis-py < 5.3,
    whose ``get_connection`` asks for one. ``afresh``: reconnect it before
    its first use (see :meth:`get`); a user that holds it for one call only
    (a lag scan) leaves that to redis-py's checks, rather than pay a
    reconnect per call.
    """

    def __init__(self, pool: Any, command: str, afresh: bool = True) -> None:
        self._pool = pool
        self._command = command
        self._afresh = afresh
        self.conn: Any = None
        self._pid = os.getpid()
        self._generation = forks.generation()

    @property
    def forked(self) -> bool:
        """True in a forked child until it takes its own connection."""
        return self._generation != forks.generation()

    def get(self) -> Any:
        """The kept connection, checked out on first use (again in a forked
        child: the parent's socket is not the child's to use or close, and
        the object belongs to the parent's pool, which resets itself)."""
        if self.forked:
            self.conn = None
            self._pid = os.getpid()
            self._generation = forks.generation()
        if self.conn is None:
            try:
                conn = self._pool.get_connection()
            except TypeError:  # redis-py < 5.3 wants a command name
                conn = self._pool.get_connection(self._command)
            # Kept from now on, so started afresh: a pooled connection that
            # an interrupted call handed back may still have a reply on its
            # way, which the pool's readiness check cannot see yet and which
            # would pass for this connection's first reply. One reconnect a
            # client's life, by connect() (what fakeredis' connections also
            # set themselves up in).
            if self._afresh:
                try:
                    conn.disconnect()
                    conn.connect()
                except BaseException:
                    self._pool.release(conn)
                    raise
            self.conn = conn
        return self.conn

    def release(self) -> None:
        """Hand the connection back to the pool (in the process that took it)."""
        conn, self.conn = self.conn, None
        if conn is not None and self._pid == os.getpid():
            self._pool.release(conn)
