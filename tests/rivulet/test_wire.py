"""The write's own round trip (rivulet/wire.py): one integer read off the
socket, everything else handed to redis-py's parser, on real connections."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

import rivulet
from rivulet import deadline, keys, wire

from ..conftest import RedisServer
from ..socket_faults import override


@pytest.fixture
def client(redis_server: RedisServer, real_redis: redis.Redis) -> Iterator[rivulet.Client]:
    """A client as rivulet.connect makes it (RESP3, deadline-capped sockets)."""
    c = rivulet.connect(redis_server.url, client_id="w", channel_ids="ch")
    c.write("ch", "warm-up")
    yield c
    c.close()


def kept(c: rivulet.Client) -> Any:
    assert c._fast is not None
    return c._fast._kept.conn


def stored(r: redis.Redis, channel: str) -> list[int]:
    return [int(s) for _, s in r.zrange(keys.msg_key(channel), 0, -1, withscores=True)]


def checkout(r: redis.Redis) -> Any:
    try:
        return r.connection_pool.get_connection()
    except TypeError:  # redis-py < 5.3 wants a command name
        return r.connection_pool.get_connection("PING")


def recv_counting(conn: Any, sizes: list[int] | None = None) -> list[bytes]:
    """Record what the connection's socket receives from now on; with
    ``sizes``, each recv takes at most the next size's bytes (a reply cut
    into pieces by the network)."""
    seen: list[bytes] = []

    def recv(plain: type[Any], sock: Any, bufsize: int, *args: Any) -> bytes:
        if sizes:
            bufsize = min(bufsize, sizes.pop(0))
        data: bytes = plain.recv(sock, bufsize, *args)
        seen.append(data)
        return data

    override(conn._sock, recv=recv)
    return seen


@pytest.fixture
def capped(redis_server: RedisServer) -> Iterator[Any]:
    """A connected connection of a client rivulet made (deadline-capped),
    checked out of its pool for the test."""
    r = rivulet.connect(redis_server.url, client_id="t", channel_ids="ch").redis
    conn = checkout(r)
    conn.connect()
    yield conn
    r.connection_pool.release(conn)


def test_an_integer_reply_is_read_in_one_recv_without_the_parser(
    client: rivulet.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = kept(client)
    seen = recv_counting(conn)
    monkeypatch.setattr(conn, "read_response", lambda *a, **k: pytest.fail("parser used"))
    assert client.write("ch", "a") == [2]
    assert client.write("ch", ["b", "c"]) == [3, 4]
    assert seen == [b":2\r\n", b":3\r\n"]


def test_a_reply_cut_into_pieces_is_finished_by_redis_py(
    client: rivulet.Client, real_redis: redis.Redis
) -> None:
    real_redis.set(keys.id_key("ch"), 123455)  # a reply of several digits
    seen = recv_counting(kept(client), sizes=[1, 2, 1, 1, 1])
    assert client.write("ch", "a") == [123456]
    assert b"".join(seen) == b":123456\r\n"
    assert len(seen) > 1
    assert client.write("ch", "b") == [123457]  # in step afterwards
    assert stored(real_redis, "ch")[-2:] == [123456, 123457]


def test_error_replies_are_redis_pys_and_keep_the_connection(
    client: rivulet.Client, real_redis: redis.Redis
) -> None:
    conn = kept(client)
    sock = conn._sock
    real_redis.set(keys.msg_key("ch"), "not a zset")
    with pytest.raises(rivulet.RivuletError, match="WRONGTYPE"):
        client.write("ch", "x")
    real_redis.delete(keys.msg_key("ch"))
    assert client.write("ch", "y") == [2]
    assert kept(client)._sock is sock  # the same socket: an error reply is in step


def test_push_messages_around_the_reply_go_to_redis_pys_parser(
    redis_server: RedisServer, real_redis: redis.Redis
) -> None:
    client = rivulet.connect(redis_server.url, client_id="w", channel_ids="ch", protocol=3)
    client.write("ch", "warm-up")
    conn = kept(client)
    assert str(conn.protocol) == "3"
    # Invalidation pushes for every key of the channel, ours included: some
    # arrive after our reply in the same bytes, some (another client's
    # writes) before it.
    conn.send_command("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "rvl:")
    assert conn.read_response() in (b"OK", "OK")
    seen = recv_counting(conn)
    other = rivulet.Client(redis=real_redis, client_id="o", channel_ids="ch")
    ids = []
    for i in range(6):
        ids += client.write("ch", f"mine{i}")
        other.write("ch", f"theirs{i}")
    assert ids == [2, 4, 6, 8, 10, 12]
    assert any(b">" in data for data in seen)  # the pushes came, and were read around
    assert stored(real_redis, "ch") == list(range(1, 14))
    client.close()


def test_a_server_that_closes_the_connection_is_a_lost_link_and_retried(
    client: rivulet.Client, real_redis: redis.Redis
) -> None:
    def recv(plain: type[Any], sock: Any, *args: Any) -> bytes:
        plain.recv(sock, *args)  # the write ran; then the server went away
        sock.__class__ = plain
        return b""

    override(kept(client)._sock, recv=recv)
    assert client.write("ch", "once") == [2]  # retried on a new connection, by its token
    assert stored(real_redis, "ch") == [1, 2]


def test_a_timeout_is_the_budgets_and_drops_the_connection(capped: Any) -> None:
    # Nothing reaches the server, so nothing comes back.
    override(capped._sock, sendall=lambda plain, sock, *args: None)
    with deadline.within(time.monotonic() + 0.05), pytest.raises(
            redis.TimeoutError, match="Timeout talking to"):
        wire.roundtrip(capped, b"*1\r\n$4\r\nPING\r\n")
    assert capped.timeouts_used[-1] <= 0.05  # capped at the call's budget
    assert capped._sock is None


def test_a_slow_send_leaves_the_read_only_what_is_left_of_the_budget(capped: Any) -> None:
    # A send that crawls (a throttled link), and nothing arrives.
    override(capped._sock, sendall=lambda plain, sock, *args: time.sleep(0.3))
    with deadline.within(time.monotonic() + 0.5), pytest.raises(redis.TimeoutError):
        wire.roundtrip(capped, b"*1\r\n$4\r\nPING\r\n")
    send_cap, read_cap = list(capped.timeouts_used)[-2:]
    assert read_cap < send_cap - 0.2  # the read got what the send left, not its cap


def test_connections_it_cannot_read_for_take_redis_pys_path(
    real_redis: redis.Redis
) -> None:
    conn = checkout(real_redis)
    try:
        conn.disconnect()  # not connected: redis-py connects it
        assert wire.roundtrip(conn, b"*1\r\n$4\r\nPING\r\n") in (b"PONG", "PONG", True)
        conn.send_command("PING")  # a reply waiting in the parser's buffer ...
        assert conn.can_read(timeout=1)
        # ... is read first, by redis-py, then ours.
        assert wire.roundtrip(conn, b"*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n") in (b"PONG", "PONG")
        assert conn.read_response() in (b"hi", "hi")
        assert isinstance(conn._sock, socket.socket)
    finally:
        real_redis.connection_pool.release(conn)


def test_a_connection_wrapped_without_a_socket_of_its_own_takes_redis_pys_path(
    real_redis: redis.Redis
) -> None:
    class Proxy:
        """What redis-py's CacheProxyConnection (client-side caching) is to
        wire: a connection that forwards and has no ``_sock``."""

        def __init__(self, conn: Any) -> None:
            self._conn = conn

        def send_packed_command(self, *args: Any, **kwargs: Any) -> None:
            self._conn.send_packed_command(*args, **kwargs)

        def read_response(self, *args: Any, **kwargs: Any) -> Any:
            return self._conn.read_response(*args, **kwargs)

    conn = checkout(real_redis)
    try:
        assert wire.roundtrip(Proxy(conn), b"*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n") in (b"hi", "hi")
    finally:
        real_redis.connection_pool.release(conn)
