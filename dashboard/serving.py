"""The dashboard's HTTP server: waitress, bounded for a page left open for days.

werkzeug's development server starts a thread per connection and waits for
headers forever, so 800 half-open connections held 801 threads. waitress reads
every socket from one thread and hands complete requests to a fixed pool of
workers; connections idle (or half-sent) for ``CHANNEL_TIMEOUT`` are closed.

``dashboard:create_app`` stays the entry point for other WSGI servers
(``gunicorn 'dashboard:create_app()'``); this module is what ``rivulet
dashboard`` uses.
"""

from __future__ import annotations

import socket
import threading
from typing import TYPE_CHECKING, Any

from waitress import wasyncore  # type: ignore[import-untyped]
from waitress.server import create_server  # type: ignore[import-untyped]

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

#: Worker threads: requests answered at once. A worker waiting on Redis, or on
#: a shared /metrics reading (dashboard.shared), uses no CPU, so there are enough
#: to keep cheap pages moving while expensive ones wait; the number is fixed, so
#: no client can make the server start more.
THREADS = 16
#: Open connections at most; past it waitress stops accepting until idle ones
#: close. A browser keeps a handful, so this is room for many operators (and
#: for a burst of half-open connections) within a usual open-file limit.
CONNECTION_LIMIT = 1000
#: Seconds a connection may sit idle, or trickle a request's headers, before it
#: is closed. Live pages poll every few seconds, so real browsers never hit it.
CHANNEL_TIMEOUT = 30
#: How often (seconds) idle connections are looked for.
CLEANUP_INTERVAL = 5
#: The ``Server`` header.
IDENT = "rivulet"


def make_server(app: WSGIApplication, sock: socket.socket, **overrides: Any) -> Any:
    """A waitress server over a socket already listening; ``overrides`` for tests."""
    settings: dict[str, Any] = {
        "threads": THREADS,
        "connection_limit": CONNECTION_LIMIT,
        "channel_timeout": CHANNEL_TIMEOUT,
        "cleanup_interval": CLEANUP_INTERVAL,
        # select() cannot watch a file descriptor numbered 1,024 or more.
        "asyncore_use_poll": True,
        "ident": IDENT,
        "expose_tracebacks": False,
        # Direct connections only: no proxy headers are trusted.
        "clear_untrusted_proxy_headers": True,
    }
    settings.update(overrides)
    return create_server(app, sockets=[sock], **settings)


class BackgroundServer:
    """A waitress server in a thread on a free loopback port (tests and benches).

    ``stop()`` ends it from any thread: the loop wakes through waitress's own
    trigger, sees the flag and closes every connection and worker.
    """

    def __init__(self, app: WSGIApplication, host: str = "127.0.0.1", **overrides: Any) -> None:
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(1024)
        self.port: int = self.sock.getsockname()[1]
        bracketed = f"[{host}]" if ":" in host else host
        self.url = f"http://{bracketed}:{self.port}"
        self.server = make_server(app, self.sock, **overrides)
        self._stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="waitress-loop", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            wasyncore.loop(timeout=1.0, map=self.server._map, use_poll=True, count=1)

    def stop(self) -> None:
        self._stopping.set()
        self.server.pull_trigger()
        self.thread.join(10)
        close(self.server)
        self.sock.close()


def close(server: Any) -> None:
    """Stop the workers, then close the listening socket and every connection."""
    server.task_dispatcher.shutdown()
    wasyncore.close_all(server._map)
