"""The ``rivulet`` command: terminal counterparts of the management API.

Exit status is 0 on success, 1 for runtime errors (Redis unreachable, unknown
channel, a refused operation) and 2 for usage errors; every failure is one line
on stderr, never a traceback. Tables escape control characters; ``--json``
prints the data as stored, with the dataclass field names as keys.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import io
import json
import math
import os
import re
import sys
import unicodedata
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import click

from . import __version__
from .admin import Admin
from .client import DEFAULT_URL
from .codec import Message
from .exceptions import (
    ChannelNotFoundError,
    ConnectionError,
    RivuletError,
    TimeoutError,
)
from .models import SubscriberInfo, now_ms
from .names import validate_name
from .retry import RetryPolicy
from .wakeup import Wakeup

#: Commands that live in other packages, imported only when run (the dashboard
#: pulls in Flask, which ``rivulet channels`` has no use for).
LAZY_COMMANDS: dict[str, tuple[str, str]] = {"dashboard": ("dashboard.cli", "dashboard")}

#: A command gives up on an unreachable Redis after this long.
RETRY = RetryPolicy(budget_s=2.0)

#: ``tail --follow`` reads new messages in pages of this many.
FOLLOW_PAGE = 500

#: The value that clears a retention cap.
NO_CAP = "none"


# -- text for terminals --------------------------------------------------------

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Control, format (bidi overrides, zero-width), surrogate and line/paragraph separators.
_UNSAFE_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}


def safe(value: object) -> str:
    """Text fit for a terminal line: control and format characters escaped as
    ``repr`` would, everything else (backslashes included) left as it is."""
    text = str(value)
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if unicodedata.category(ch) not in _UNSAFE_CATEGORIES:
            out.append(ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        else:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else
                       f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "".join(out)


def width(text: str) -> int:
    """Terminal columns ``text`` takes: wide East Asian characters count two,
    combining marks none."""
    if text.isascii():
        return len(text)
    return sum(
        0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        for ch in text
    )


def table(headers: Sequence[str], rows: Sequence[Sequence[str]],
          right: Sequence[int] = ()) -> str:
    """Rows as aligned columns under ``headers``; columns in ``right`` are
    right-aligned (numbers)."""
    widths = [max(width(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    lines = []
    for row in [headers, *rows]:
        cells = []
        for i, cell in enumerate(row):
            pad = " " * (widths[i] - width(cell))
            cells.append(pad + cell if i in right else cell + pad)
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def duration(seconds: float) -> str:
    """A span of time in its two largest units: ``3.2s``, ``4m 2s``, ``1d 3h``."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s"


def ago(ts_ms: int | None, at_ms: int) -> str:
    """``3.2s ago``, or ``never``."""
    return "never" if ts_ms is None else f"{duration((at_ms - ts_ms) / 1000)} ago"


def iso_time(ts_ms: int | None) -> str:
    """Milliseconds since the epoch as an ISO 8601 UTC time."""
    if ts_ms is None:
        return "-"
    stamp = dt.datetime.fromtimestamp(ts_ms / 1000, tz=dt.timezone.utc)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def number(value: int) -> str:
    return f"{value:,}"


def emit_json(value: object) -> None:
    # Non-ASCII is printed as itself only where stdout can carry it.
    encoding = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "")
    click.echo(json.dumps(value, ensure_ascii=not encoding.startswith("utf")))


def masked(url: str) -> str:
    """A Redis URL with its password replaced by ``***``."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is not None:
        host = parts.netloc.rpartition("@")[2]
        parts = parts._replace(netloc=f"{parts.username or ''}:***@{host}")
    return re.sub(r"(?i)(password=)[^&]*", r"\1***", urllib.parse.urlunsplit(parts))


# -- parameter values ------------------------------------------------------------

T = TypeVar("T")
Callback = Callable[[click.Context, click.Parameter, Any], Any]


def argv_text(value: str) -> str:
    """An argument as UTF-8 text even under a C locale, where Python hands
    non-ASCII bytes over as surrogate escapes."""
    if value.isascii() or not any("\udc80" <= ch <= "\udcff" for ch in value):
        return value
    try:
        return os.fsencode(value).decode("utf-8")
    except UnicodeDecodeError:
        return value  # the caller reports it as invalid text


def checked(parse: Callable[[str], T]) -> Callback:
    """A click callback that turns ``parse``'s ValueError into a usage error."""
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> T | None:
        if value is None:
            return None
        try:
            return parse(argv_text(value))
        except ValueError as error:  # InvalidNameError is one
            raise click.BadParameter(str(error), ctx, param) from None
    return callback


def parse_client_id(value: str) -> str:
    return validate_name(value, "client id")


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_seconds(value: str) -> float:
    """``90``, ``1.5m``, ``2h``, ``7d`` as seconds: finite and >= 0."""
    text = value.strip().lower()
    scale = _UNITS.get(text[-1:])
    try:
        number = float(text[:-1] if scale else text) * (scale or 1)
    except ValueError:
        raise ValueError(f"{value!r} is not a number of seconds (units s, m, h, d)") from None
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{value!r} is not a finite number of seconds >= 0")
    return number


def parse_count(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a whole number") from None
    if number < 0:
        raise ValueError(f"{value!r} is below 0")
    return number


def parse_index(value: str) -> int | str:
    """A message id, ``earliest`` or ``latest``."""
    word = value.strip().lower()
    if word in ("earliest", "latest"):
        return word
    try:
        return parse_count(word)
    except ValueError:
        raise ValueError(f"{value!r} is not a message id, 'earliest' or 'latest'") from None


def cap(parse: Callable[[str], T]) -> Callable[[str], T | str]:
    """``parse``, or ``none`` (:data:`NO_CAP`): remove the cap."""
    def parse_cap(value: str) -> T | str:
        return NO_CAP if value.strip().lower() == NO_CAP else parse(value)
    return parse_cap


COUNT = click.IntRange(min=0)

redis_url_option = click.option(
    "--redis-url", envvar=["RIVULET_REDIS_URL", "REDIS_URL"], default=DEFAULT_URL,
    show_default=True, show_envvar=True, metavar="URL", help="The Redis to manage.",
)
json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print JSON (keys are the API's field names) instead of a table.")


@contextlib.contextmanager
def open_admin(url: str) -> Iterator[Admin]:
    """An :class:`Admin` with a short retry budget, closed afterwards."""
    try:
        admin = Admin(url, retry=RETRY)
    except ValueError as error:
        raise click.BadParameter(str(error), click.get_current_context(silent=True),
                                 param_hint="'--redis-url'") from None
    try:
        yield admin
    except (ConnectionError, TimeoutError) as error:
        # Name the URL: it may have come from an environment variable.
        raise click.ClickException(f"{error} (redis url {masked(url)})") from error
    finally:
        admin.close()


# -- the group: errors, exit codes, lazy commands ------------------------------------

def _error(message: str) -> None:
    click.echo(f"Error: {safe(' '.join(message.split()))}", err=True)


def _report(error: BaseException) -> int:
    """Print ``error`` as one line on stderr; return the exit status it calls for."""
    if isinstance(error, click.UsageError):
        hint = f" (see '{error.ctx.command_path} --help')" if error.ctx else ""
        _error(error.format_message() + hint)
        return 2
    if isinstance(error, click.ClickException):
        _error(error.format_message())
        return error.exit_code
    if isinstance(error, click.Abort):
        _error("aborted")
        return 1
    if isinstance(error, (RivuletError, ValueError, TypeError, OSError)):
        _error(str(error) or type(error).__name__)
        return 1
    _error(f"unexpected {type(error).__name__}: {error}")
    return 1


class RivuletGroup(click.Group):
    """A click group whose ``main`` turns every failure into one line on stderr
    and an exit status, and that imports :data:`LAZY_COMMANDS` only when run."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             windows_expand_args: bool = True, **extra: Any) -> Any:
        for stream in (sys.stdout, sys.stderr):
            # What the terminal cannot show is escaped rather than fatal.
            if isinstance(stream, io.TextIOWrapper):
                stream.reconfigure(errors="backslashreplace")
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False,
                                  windows_expand_args=windows_expand_args, **extra)
            code = result if isinstance(result, int) else 0
        except BrokenPipeError:
            # The reader went away (`rivulet tail -f | head`): stop quietly.
            with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            code = 1
        except Exception as error:
            code = _report(error)
        if standalone_mode:
            sys.exit(code)
        return code

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in LAZY_COMMANDS:
            with contextlib.suppress(ImportError):
                command = self._load(cmd_name)
        return command

    def resolve_command(self, ctx: click.Context,
                        args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name in LAZY_COMMANDS and super().get_command(ctx, name) is None:
            try:
                return name, self._load(name), args[1:]
            except ImportError as error:
                raise click.ClickException(f"'{name}' is not available: {error}") from None
        return super().resolve_command(ctx, args)

    @staticmethod
    def _load(name: str) -> click.Command:
        module, attribute = LAZY_COMMANDS[name]
        command = getattr(importlib.import_module(module), attribute, None)
        if not isinstance(command, click.Command):
            raise ImportError(f"{module}.{attribute} is not a click command")
        return command


@click.group(name="rivulet", cls=RivuletGroup, invoke_without_command=True,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="rivulet")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Inspect and manage rivulet channels in Redis.

    Exit status: 0 ok, 1 runtime error, 2 usage error.
    """
    if ctx.invoked_subcommand is None:
        # No command is a usage error, answered with the help (on stderr, as click 8.2+ does).
        click.echo(ctx.get_help(), err=True)
        ctx.exit(2)


# -- channels, subscribers, clients --------------------------------------------------

@cli.command()
@click.option("--match", metavar="GLOB", help="Only channels matching a glob, e.g. 'demo/*'.")
@click.option("--limit", type=COUNT, metavar="N", help="Show at most N channels.")
@click.option("--offset", type=COUNT, default=0, metavar="N", help="Skip the first N channels.")
@json_option
@redis_url_option
def channels(match: str | None, limit: int | None, offset: int, as_json: bool,
             redis_url: str) -> None:
    """List channels by name with size, head id, subscribers and worst lag."""
    with open_admin(redis_url) as admin:
        rows, total = admin.channel_page(match, offset, limit)
    if as_json:
        emit_json({"channels": [row.to_dict() for row in rows], "total": total})
        return
    if not rows:
        click.echo(f"no channels (of {total})" if total else "no channels")
        return
    now = now_ms()
    body = [
        [safe(r.name), number(r.message_count), number(r.head_id), number(r.subscriber_count),
         number(r.max_lag), duration(r.max_lag_seconds) if r.max_lag else "-",
         ago(r.last_write_ts, now), safe(r.error or "")]
        for r in rows
    ]
    worst = max(rows, key=lambda r: (r.max_lag_seconds, r.max_lag))
    shown = f"{len(rows)} of {total}" if len(rows) < total else f"{total}"
    body.append([
        f"TOTAL ({shown} channels)", number(sum(r.message_count for r in rows)), "",
        number(sum(r.subscriber_count for r in rows)), number(max(r.max_lag for r in rows)),
        duration(worst.max_lag_seconds) if worst.max_lag else "-", "", "",
    ])
    headers = ["CHANNEL", "MESSAGES", "HEAD", "SUBSCRIBERS", "WORST LAG", "OLDEST UNREAD",
               "LAST WRITE", "ERROR"]
    if not any(r.error for r in rows):
        headers, body = headers[:-1], [row[:-1] for row in body]
    click.echo(table(headers, body, right=(1, 2, 3, 4)))


def _subscriber_dict(row: SubscriberInfo, at_ms: int) -> dict[str, Any]:
    return {**row.to_dict(), "pruned_unread": row.pruned_unread, "status": row.status(at_ms)}


@cli.command()
@click.argument("channel", required=False, callback=checked(validate_name))
@json_option
@redis_url_option
def lag(channel: str | None, as_json: bool, redis_url: str) -> None:
    """Show each subscriber's index and lag, for CHANNEL or for every channel.

    PRUNED UNREAD counts messages removed before the subscriber read them.
    """
    with open_admin(redis_url) as admin:
        if channel is not None:
            rows = list(admin.subscribers(channel))
        else:
            listed = admin.channels()
            names = [c.name for c in listed if c.error is None and c.subscriber_count]
            found = admin.subscribers_many(names)
            rows = [row for name in names for row in found.get(name, [])]
            if broken := sum(1 for c in listed if c.error is not None):
                click.echo(f"note: left out {broken} channel(s) holding data rivulet cannot "
                           "read; `rivulet channels` shows why", err=True)
    rows.sort(key=lambda r: (r.channel, -r.lag, -r.lag_seconds, r.client_id))  # worst first
    now = now_ms()
    if as_json:
        emit_json({"subscribers": [_subscriber_dict(row, now) for row in rows]})
        return
    if not rows:
        click.echo("no subscribers")
        return
    body = [
        [safe(r.channel), safe(r.client_id), number(r.index), number(r.lag), number(r.pending),
         number(r.pruned_unread), duration(r.lag_seconds) if r.pending else "-",
         ago(r.last_read_ts, now), r.status(now)]
        for r in rows
    ]
    headers = ["CHANNEL", "CLIENT", "INDEX", "LAG", "PENDING", "PRUNED UNREAD", "LAG TIME",
               "LAST READ", "STATUS"]
    if channel is not None:
        headers, body = headers[1:], [row[1:] for row in body]
        click.echo(table(headers, body, right=(1, 2, 3, 4)))
    else:
        click.echo(table(headers, body, right=(2, 3, 4, 5)))


@cli.command()
@click.option("--limit", type=COUNT, metavar="N", help="Show at most N clients.")
@click.option("--offset", type=COUNT, default=0, metavar="N", help="Skip the first N clients.")
@json_option
@redis_url_option
def clients(limit: int | None, offset: int, as_json: bool, redis_url: str) -> None:
    """List clients with the channels they read, their index and lag in each."""
    with open_admin(redis_url) as admin:
        rows = admin.clients(offset=offset, limit=limit)
        total = admin.client_count() if as_json else 0
    if as_json:
        emit_json({"clients": [row.to_dict() for row in rows], "total": total})
        return
    if not rows:
        click.echo("no clients")
        return
    body = [
        [safe(r.client_id), safe(channel), number(index), number(r.lags.get(channel, 0))]
        for r in rows
        for channel, index in sorted(r.channels.items())
    ]
    click.echo(table(["CLIENT", "CHANNEL", "INDEX", "LAG"], body, right=(2, 3)))


# -- messages ---------------------------------------------------------------------------

def _read_stdin() -> str:
    raw = sys.stdin.buffer.read()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise click.ClickException(f"stdin is not UTF-8 text: {error}") from None


@cli.command()
@click.argument("channel", callback=checked(validate_name))
@click.argument("data")
@click.option("--src", default="cli", callback=checked(validate_name), show_default=True,
              help="The writer id stored with the message.")
@click.option("--create", is_flag=True, help="Create the channel if it does not exist.")
@redis_url_option
def post(channel: str, data: str, src: str, create: bool, redis_url: str) -> None:
    """Write DATA to CHANNEL as an operator (no subscription needed); print its id.

    DATA '-' reads the message from stdin, exactly as given.
    """
    data = _read_stdin() if data == "-" else argv_text(data)
    with open_admin(redis_url) as admin:
        try:
            message_id = admin.post(channel, data, src=src, create=create)
        except ChannelNotFoundError as error:
            raise click.ClickException(f"{error} (pass --create to create it)") from None
    click.echo(message_id)


def _show_line(message: Message) -> None:
    src = "(malformed)" if message.get("malformed") else safe(message.get("src"))
    click.echo(f"{message['id']}  {iso_time(message.get('ts'))}  {src}  {safe(message['data'])}")


def _show_json(message: Message) -> None:
    emit_json(message)


@cli.command()
@click.argument("channel", callback=checked(validate_name))
@click.option("-n", "--lines", "count", type=COUNT, default=10, show_default=True,
              help="How many recent messages to print.")
@click.option("-f", "--follow", is_flag=True,
              help="Then print new messages as they are written, until Ctrl-C.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per message.")
@redis_url_option
def tail(channel: str, count: int, follow: bool, as_json: bool, redis_url: str) -> None:
    """Print CHANNEL's recent messages, oldest first: id, time (UTC), src, data.

    Never subscribes, so it moves no index and holds back no pruning.
    """
    show = _show_json if as_json else _show_line
    with open_admin(redis_url) as admin:
        if not follow:
            for message in reversed(admin.messages(channel, limit=count)):
                show(message)
            return
        with contextlib.suppress(KeyboardInterrupt):
            _follow(admin, channel, count, show)


def _follow(admin: Admin, channel: str, count: int, show: Callable[[Message], None]) -> None:
    wakeup = Wakeup(admin.redis)

    def watch() -> None:
        admin.retry.run(lambda: wakeup.watch([channel]), "follow")

    try:
        # Subscribed before the first look, so a write landing between the look
        # and the wait still wakes the wait.
        watch()
        head = admin.channel(channel).head_id
        recent = admin.messages(channel, limit=count) if count else []
        for message in reversed(recent):
            show(message)
        last = max([head, *(int(m["id"]) for m in recent)])
        while True:
            wakeup.wait(None)
            watch()  # again after a dropped link, then look for what it missed
            last = _show_after(admin, channel, last, show)
    finally:
        wakeup.close()


def _show_after(admin: Admin, channel: str, last: int,
                show: Callable[[Message], None]) -> int:
    """Print the messages after id ``last``; return the new last id."""
    start = last
    try:
        while True:
            page = admin.messages(channel, after_id=last, limit=FOLLOW_PAGE, newest_first=False)
            for message in page:
                show(message)
                last = int(message["id"])
            if len(page) < FOLLOW_PAGE:
                break
        if last == start and last and admin.channel(channel).head_id < last:
            # Ids went down: the channel was deleted and created again.
            click.echo(f"note: channel {channel!r} was recreated", err=True)
            return _show_after(admin, channel, 0, show)
    except ChannelNotFoundError:
        if last:
            click.echo(f"note: channel {channel!r} was deleted; waiting for it", err=True)
        return 0
    return last


# -- operator actions ------------------------------------------------------------------

@cli.command()
@click.argument("channel", callback=checked(validate_name))
@click.option("--upto-id", type=COUNT, metavar="ID", help="Remove messages with id <= ID.")
@click.option("--older-than", metavar="SECONDS", callback=checked(parse_seconds),
              help="Remove messages at least this old (seconds, or with a unit: 10m, 2h, 7d).")
@click.option("--consumed", is_flag=True, help="Remove what every subscriber has read.")
@click.option("--keep-last", type=COUNT, metavar="N", help="Remove all but the newest N.")
@redis_url_option
def prune(channel: str, upto_id: int | None, older_than: float | None, consumed: bool,
          keep_last: int | None, redis_url: str) -> None:
    """Remove messages from CHANNEL meeting any of the criteria given.

    The id counter never moves back.
    """
    if upto_id is None and older_than is None and not consumed and keep_last is None:
        raise click.UsageError(
            "give at least one of --upto-id, --older-than, --consumed, --keep-last"
        )
    with open_admin(redis_url) as admin:
        removed = admin.prune(channel, upto_id=upto_id, older_than=older_than,
                              consumed=consumed, keep_last=keep_last)
    click.echo(f"pruned {removed} message{'' if removed == 1 else 's'} from {channel!r}")


@cli.command()
@click.argument("channel", callback=checked(validate_name))
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@redis_url_option
def delete(channel: str, yes: bool, redis_url: str) -> None:
    """Delete CHANNEL: its messages, indexes and settings. Asks first unless --yes."""
    with open_admin(redis_url) as admin:
        info = admin.channel(channel)
        if not yes:
            if sys.stdin is None or not sys.stdin.isatty():
                raise click.UsageError("stdin is not a terminal, so nobody can confirm; "
                                       "pass --yes to delete without asking")
            question = (f"Delete channel {channel!r} with {number(info.message_count)} messages "
                        f"and {number(info.subscriber_count)} subscribers?")
            if not click.confirm(question, err=True):
                raise click.ClickException(f"channel {channel!r} not deleted")
        if not admin.delete_channel(channel):
            raise ChannelNotFoundError(channel)  # deleted by someone else meanwhile
    click.echo(f"deleted channel {channel!r}")


@cli.command()
@click.argument("channel", callback=checked(validate_name))
@click.argument("client", callback=checked(parse_client_id))
@click.argument("index", callback=checked(parse_index), metavar="INDEX|earliest|latest")
@redis_url_option
def move(channel: str, client: str, index: int | str, redis_url: str) -> None:
    """Move CLIENT's read position in CHANNEL to a message id, earliest or latest.

    Moving forward prunes what every subscriber has then read.
    """
    with open_admin(redis_url) as admin:
        new_index = admin.set_index(channel, client, index)
    click.echo(f"moved {client!r} in {channel!r} to index {new_index}")


@cli.command()
@click.argument("channel", callback=checked(validate_name))
@click.argument("client", callback=checked(parse_client_id))
@redis_url_option
def remove(channel: str, client: str, redis_url: str) -> None:
    """Unsubscribe CLIENT from CHANNEL; the last subscriber leaving deletes the channel."""
    with open_admin(redis_url) as admin:
        admin.channel(channel)
        if not admin.remove_subscriber(channel, client):
            raise click.ClickException(f"client {client!r} is not subscribed to {channel!r}")
        try:
            admin.channel(channel)
            gone = ""
        except ChannelNotFoundError:
            gone = "; it was the last subscriber, so the channel was deleted"
    click.echo(f"removed {client!r} from {channel!r}{gone}")


def _caps(max_messages: int | None, max_age: float | None) -> str:
    count = "no message cap" if max_messages is None else f"max {number(max_messages)} messages"
    age = "no age cap" if max_age is None else f"max age {duration(max_age)}"
    return f"{count}, {age}"


@cli.command()
@click.argument("channel", callback=checked(validate_name))
@click.option("--max-messages", metavar="N|none", callback=checked(cap(parse_count)),
              help="Keep at most N messages ('none' removes the cap).")
@click.option("--max-age", metavar="SECONDS|none", callback=checked(cap(parse_seconds)),
              help="Drop messages older than this ('none' removes the cap).")
@redis_url_option
def retention(channel: str, max_messages: Any, max_age: Any, redis_url: str) -> None:
    """Show CHANNEL's retention caps, or change the ones given (writes enforce them)."""
    with open_admin(redis_url) as admin:
        info = admin.channel(channel)
        if max_messages is None and max_age is None:
            click.echo(f"{channel!r}: {_caps(info.max_messages, info.max_age)}")
            return
        # An option not given keeps its current cap.
        new_messages = info.max_messages if max_messages is None else max_messages
        new_age = info.max_age if max_age is None else max_age
        new_messages = None if new_messages == NO_CAP else new_messages
        new_age = None if new_age == NO_CAP else new_age
        removed = admin.set_retention(channel, max_messages=new_messages, max_age=new_age)
    click.echo(f"{channel!r}: {_caps(new_messages, new_age)}; removed {removed} now")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``rivulet`` command line; return its exit status."""
    return int(cli.main(args=argv, prog_name="rivulet", standalone_mode=False))


if __name__ == "__main__":
    sys.exit(main())
