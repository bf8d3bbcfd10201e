"""``rivulet dashboard``: serve the dashboard, over an embedded Redis if no URL is given.

The click command object is :data:`dashboard`; ``rivulet.cli`` registers it.
It serves with waitress (:mod:`dashboard.serving`). Start-up output on stdout
is exactly one line with the dashboard URL and, with the embedded server, one
with the Redis URL, flushed once both listen; notes and warnings go to stderr:
how to point the CLI at the embedded server, that an external Redis does not
answer, and that Ctrl-C stops it all.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
import signal
import socket
import sys
from collections.abc import Iterable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import quote

import click

from rivulet.cli.options import group_url
from rivulet.urls import mask_url

from . import serving
from .embedded import DEFAULT_DATA_DIR, ENV_FILE, EmbeddedRedis, EmbeddedRedisError

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

#: The dashboard's port when --port is not given (6379 is Redis; 8379 is its dashboard).
DEFAULT_PORT = 8379
LOOPBACK_NAMES = frozenset({"localhost"})
#: Connections the kernel queues before the server accepts them.
LISTEN_QUEUE = 1024
#: How long the start-up check waits for an external Redis to answer.
REDIS_CHECK_S = 2.0


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and ``localhost``."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def fail(message: str, status: int) -> NoReturn:
    """One line on stderr, then exit: 2 for usage errors, 1 for runtime ones."""
    click.echo(f"Error: {message}", err=True)
    raise click.exceptions.Exit(status)


def note(message: str) -> None:
    click.echo(f"rivulet dashboard: {message}", err=True)


class LateApp:
    """The WSGI app, set once Redis is up; lets the port be bound first."""

    def __init__(self) -> None:
        self.app: WSGIApplication | None = None

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if self.app is None:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"starting\n"]
        return self.app(environ, start_response)


def bare_host(host: str) -> str:
    """``[::1]`` as ``::1``: brackets belong in URLs, not in socket addresses."""
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def listen(host: str, port: int) -> socket.socket:
    """A listening socket; :class:`OSError` if the address is busy or not ours."""
    bare = bare_host(host)
    # As werkzeug did: names (localhost) listen on IPv4, addresses with ":" on IPv6.
    family = socket.AF_INET6 if ":" in bare else socket.AF_INET
    family, kind, proto, _name, address = socket.getaddrinfo(
        bare, port, family, socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(LISTEN_QUEUE)
    except BaseException:
        sock.close()
        raise
    return sock


def _stop_on_signals() -> None:
    """SIGINT, SIGTERM and SIGHUP all end the server the same way, so cleanup runs.

    SIGINT is set too because a shell starts background jobs with it ignored.
    """

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)


def check_redis(url: str) -> None:
    """Say at start when Redis does not answer; the dashboard serves its 503
    page meanwhile and recovers by itself once Redis is back."""
    from rivulet.admin import Admin
    from rivulet.exceptions import RivuletError
    from rivulet.retry import RetryPolicy

    try:
        admin = Admin(url, retry=RetryPolicy(budget_s=REDIS_CHECK_S))
    except ValueError as error:
        note(f"WARNING: the Redis URL is not usable: {error}")
        return
    try:
        admin.ping()
    except RivuletError as error:
        note(f"WARNING: Redis at {mask_url(url)} does not answer ({error}); "
             "pages show 'Redis unavailable' until it does")
    finally:
        admin.close()


def shown_path(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def url_host(host: str) -> str:
    """A host as a URL writes it: IPv6 addresses in brackets."""
    host = bare_host(host)
    return f"[{host}]" if ":" in host else host


@click.command("dashboard")
@click.option(
    "--redis-url",
    metavar="URL",
    help="Redis to manage. Default: $RIVULET_REDIS_URL, then $REDIS_URL, "
    "else an embedded server started for this run.",
)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (IPv6 as ::1 or [::1]).")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="Port to listen on (0: any free port).",
)
@click.option(
    "--token",
    metavar="TOKEN",
    help="Token browsers and scripts must present. Default: $RIVULET_DASHBOARD_TOKEN, "
    "else one generated and printed.",
)
@click.option("--no-auth", is_flag=True, help="No token at all (loopback addresses only).")
@click.option("--read-only", is_flag=True, help="Show everything, change nothing.")
@click.option("--demo", is_flag=True, help="Run demo producers and consumers under demo/.")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help=f"Where the embedded Redis keeps its data. Default: ./{DEFAULT_DATA_DIR}/",
)
@click.option(
    "--refresh",
    type=click.FloatRange(min=1.0),
    default=2.0,
    show_default=True,
    help="Seconds between live refreshes (the page can change it).",
)
def dashboard(
    redis_url: str | None,
    host: str,
    port: int,
    token: str | None,
    no_auth: bool,
    read_only: bool,
    demo: bool,
    data_dir: Path | None,
    refresh: float,
) -> None:
    """Serve the web dashboard (embedded Redis when no URL is given)."""
    if no_auth and token is not None:
        fail("--no-auth and --token contradict each other; give one", 2)
    if no_auth and not is_loopback(host):
        fail(f"--no-auth is only allowed on a loopback address, not --host {host}", 2)
    if token is not None and not token:
        fail("--token must not be empty", 2)
    if not no_auth:
        token = token or os.environ.get("RIVULET_DASHBOARD_TOKEN") or secrets.token_urlsafe(32)
    url = (redis_url or group_url(click.get_current_context(silent=True))
           or os.environ.get("RIVULET_REDIS_URL") or os.environ.get("REDIS_URL"))
    if url and data_dir is not None:
        note("--data-dir only applies to the embedded Redis; ignored with a Redis URL")

    # Listen before starting anything else, so a busy port costs nothing; the
    # server gets the ready socket.
    try:
        sock = listen(host, port)
    except OSError as error:
        reason = error.strerror or str(error)
        fail(f"cannot listen on {host} port {port} ({reason}); choose another --port", 1)
    late = LateApp()
    server = serving.make_server(late, sock)
    run(server, late, bare_host(host), sock.getsockname()[1], url, data_dir, token, read_only,
        demo, refresh)


def run(
    server: Any,
    late: LateApp,
    host: str,
    port: int,
    url: str | None,
    data_dir: Path | None,
    token: str | None,
    read_only: bool,
    demo: bool,
    refresh: float,
) -> None:
    """Start Redis (if embedded), the app and the demo; serve until interrupted."""
    from . import create_app
    from .demo import DEMO_STOP_AFTER_S, DEMO_WINDOW_S, Demo

    embedded: EmbeddedRedis | None = None
    running_demo: Demo | None = None
    try:
        _stop_on_signals()
        if url is None:
            embedded = EmbeddedRedis(data_dir or DEFAULT_DATA_DIR)
            try:
                url = embedded.start()
            except EmbeddedRedisError as error:
                fail(str(error), 1)
        config: dict[str, Any] = {
            "REDIS_URL": url,
            "AUTH": token is not None,
            "DASHBOARD_TOKEN": token,
            "READ_ONLY": read_only,
            "REFRESH_SECONDS": refresh,
            # Cookies ignore ports: keep dashboards on one host from clobbering each other.
            "SESSION_COOKIE_NAME": f"rivulet_dashboard_{port}",
        }
        if demo:
            # The demo is paced for a short window: every status shows within a minute.
            config.update(STATUS_WINDOW=DEMO_WINDOW_S, STOP_AFTER=DEMO_STOP_AFTER_S)
        late.app = create_app(config)
        if demo:
            if embedded is None:
                note(f"--demo writes demo channels under demo/ into {mask_url(url)}")
            running_demo = Demo(url)
            running_demo.start()
        if token is None:
            note("WARNING: --no-auth: anyone who can reach this port controls the dashboard")
        elif not is_loopback(host):
            note("WARNING: listening beyond loopback over plain HTTP; the token can be sniffed")
        address = f"http://{url_host(host)}:{port}/"
        if token is not None:
            address += f"?token={quote(token, safe='')}"
        click.echo(f"Dashboard: {address}")
        if embedded is not None:
            click.echo(f"Redis:     {url}")
        sys.stdout.flush()
        if embedded is None:
            check_redis(url)
        else:
            env_file = shown_path(embedded.data_dir / ENV_FILE)
            if embedded.moved_from is not None:
                note(f"WARNING: port {embedded.moved_from}, the embedded Redis's port last "
                     f"time, is taken by another program; Redis now listens on "
                     f"{embedded.port}, so the Redis URL changed: give clients the new "
                     f"one (from {env_file}), and stop whatever holds the old port if "
                     "they could still send it the password")
            same = "" if embedded.moved_from else "; the URL stays the same across restarts"
            note(f"for the rivulet CLI, run: . {env_file}  (it sets RIVULET_REDIS_URL{same})")
        note("Ctrl-C to stop")
        # Returns on a signal: _stop_on_signals raises KeyboardInterrupt, which
        # waitress's loop catches (stopping its workers).
        server.run()
        note("stopping")
    except KeyboardInterrupt:
        note("stopping")
    finally:
        serving.close(server)
        if running_demo is not None:
            running_demo.stop()
        if embedded is not None:
            embedded.stop()


def main() -> None:  # pragma: no cover - `python -m dashboard.cli`
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    dashboard()


if __name__ == "__main__":  # pragma: no cover
    main()
