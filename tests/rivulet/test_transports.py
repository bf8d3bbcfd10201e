"""The fast paths over TLS and a unix socket, on real redis-server processes.

The single write reads its reply off the socket itself (rivulet/wire.py) and
blocking reads wait on a kept connection (rivulet/doorbell.py): both must
work, and keep their guarantees, on every socket redis-py connects.
"""

from __future__ import annotations

import socket
import ssl
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

import rivulet

from ..conftest import RedisServer, free_port
from ..socket_faults import lose_next_reply


@pytest.fixture(scope="module")
def tls_server() -> Iterator[tuple[RedisServer, int, str]]:
    """A redis-server that also listens with TLS (a throwaway CA); yields the
    server, its TLS port and the CA file a client trusts."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    with tempfile.TemporaryDirectory(prefix="rivulet-tls-") as folder:
        where = Path(folder)
        ca.cert_pem.write_to_path(str(where / "ca.pem"))
        cert.private_key_pem.write_to_path(str(where / "key.pem"))
        cert.cert_chain_pems[0].write_to_path(str(where / "cert.pem"))
        tls_port = free_port()
        server = RedisServer("--tls-port", str(tls_port),
                             "--tls-cert-file", str(where / "cert.pem"),
                             "--tls-key-file", str(where / "key.pem"),
                             "--tls-ca-cert-file", str(where / "ca.pem"),
                             "--tls-auth-clients", "no")
        yield server, tls_port, str(where / "ca.pem")
        server.stop()


@pytest.fixture(scope="module")
def unix_server() -> Iterator[tuple[RedisServer, str]]:
    with tempfile.TemporaryDirectory(prefix="rivulet-unix-") as folder:
        path = str(Path(folder) / "redis.sock")
        server = RedisServer("--unixsocket", path, "--unixsocketperm", "700")
        yield server, path
        server.stop()


@pytest.fixture(params=["tls", "unix"])
def url_and_options(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    if request.param == "tls":
        server, port, ca_file = request.getfixturevalue("tls_server")
        server.client().flushall()
        return f"rediss://127.0.0.1:{port}/0", {"ssl_ca_certs": ca_file}
    server, path = request.getfixturevalue("unix_server")
    server.client().flushall()
    return f"unix://{path}?db=0", {}


@pytest.fixture
def pair(url_and_options: tuple[str, dict[str, Any]]
         ) -> Iterator[tuple[rivulet.Client, rivulet.Client]]:
    """A writer and a reader of channel "ch" on the transport."""
    url, options = url_and_options
    made = [rivulet.connect(url, client_id=client_id, channel_ids="ch", **options)
            for client_id in ("w", "r")]
    yield made[0], made[1]
    for client in made:
        client.close()


def test_writes_take_the_fast_path_and_read_back(
    pair: tuple[rivulet.Client, rivulet.Client], url_and_options: tuple[str, dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    writer, reader = pair
    assert writer.write("ch", "first") == [1]
    assert writer._fast is not None
    conn = writer._fast._kept.conn
    if url_and_options[0].startswith("rediss"):
        assert isinstance(conn._sock, ssl.SSLSocket)
    else:
        assert conn._sock.family == socket.AF_UNIX
    # The reply is read off the socket, not by redis-py's parser.
    monkeypatch.setattr(conn, "read_response", lambda *a, **k: pytest.fail("parser used"))
    assert writer.write("ch", "é ✓") == [2]
    assert writer.write("ch", ["a", "b"]) == [3, 4]
    monkeypatch.undo()
    assert [m["data"] for m in reader.read()["ch"]] == ["first", "é ✓", "a", "b"]


def test_a_lost_reply_is_retried_and_stored_once(
    pair: tuple[rivulet.Client, rivulet.Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    writer, reader = pair
    writer.write("ch", "warm-up")
    assert writer._fast is not None
    lost = lose_next_reply(writer._fast._kept.conn,
                           ConnectionResetError(104, "reply lost in transit"), monkeypatch)
    assert writer.write("ch", "once") == [2]
    assert lost
    assert [m["id"] for m in reader.read()["ch"]] == [1, 2]


def test_a_blocked_read_wakes_when_a_message_lands(
    pair: tuple[rivulet.Client, rivulet.Client]
) -> None:
    writer, reader = pair
    got: list[Any] = []
    waiting = threading.Event()
    reader.read()  # subscribed, connections open

    def wait() -> None:
        waiting.set()
        got.append(reader.read(timeout=30))

    thread = threading.Thread(target=wait)
    thread.start()
    assert waiting.wait(10)
    writer.write("ch", "wake")
    thread.join(30)
    assert not thread.is_alive()
    assert [m["data"] for m in got[0]["ch"]] == ["wake"]
