"""Message commands: ``post`` writes one as an operator; ``tail`` prints recent
ones and, with ``--follow``, new ones as they arrive."""

from __future__ import annotations

import sys
from collections.abc import Callable

import click

from ..admin import Admin
from ..codec import Message
from ..exceptions import ChannelNotFoundError
from ..exceptions import ConnectionError as RivuletConnectionError
from ..exceptions import TimeoutError as RivuletTimeoutError
from ..names import validate_name
from ..wakeup import Wakeup
from .options import (
    COUNT,
    argv_text,
    channel_info,
    checked,
    open_admin,
    parse_src,
    redis_url_option,
)
from .output import emit_json, safe, utc_time

#: ``tail --follow`` reads new messages in pages of this many.
FOLLOW_PAGE = 500


def _read_stdin() -> str:
    raw = sys.stdin.buffer.read()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise click.ClickException(f"stdin is not UTF-8 text: {error}") from None


@click.command()
@click.argument("channel", callback=checked(validate_name))
@click.argument("data")
@click.option("--src", default="cli", callback=checked(parse_src), show_default=True,
              help="The writer id stored with the message.")
@click.option("--create", is_flag=True, help="Create the channel if it does not exist.")
@redis_url_option
def post(channel: str, data: str, src: str, create: bool, redis_url: str) -> None:
    """Write DATA to CHANNEL as an operator (no subscription needed); print its id.

    DATA '-' reads the message from stdin, exactly as given (a trailing newline
    from `echo` included: use `printf %s` or `echo -n` to leave it out).
    """
    if data == "-":
        data = _read_stdin()
        if data.endswith("\n"):
            # Kept, since stdin may mean it; said, since `echo` adds one unasked.
            click.echo("note: the message keeps the newline stdin ended with "
                       "(`echo -n` or `printf %s` sends none)", err=True)
    else:
        data = argv_text(data)
    with open_admin(redis_url) as admin:
        try:
            message_id = admin.post(channel, data, src=src, create=create)
        except ChannelNotFoundError as error:
            raise click.ClickException(f"{error} (pass --create to create it)") from None
    click.echo(message_id)


def _show_line(message: Message) -> None:
    src = "(malformed)" if message.get("malformed") else safe(message.get("src"))
    click.echo(f"{message['id']}  {utc_time(message.get('ts'))}  {src}  {safe(message['data'])}")


def _show_json(message: Message) -> None:
    emit_json(message)


@click.command()
@click.argument("channel", callback=checked(validate_name))
@click.option("-n", "--lines", "count", type=COUNT, default=10, show_default=True,
              help="How many recent messages to print.")
@click.option("-f", "--follow", is_flag=True,
              help="Then print new messages as they are written, until Ctrl-C.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per message.")
@redis_url_option
def tail(channel: str, count: int, follow: bool, as_json: bool, redis_url: str) -> None:
    """Print CHANNEL's recent messages, oldest first: id, time (UTC), src, data.

    With --follow, runs until Ctrl-C (exit status 130).

    Never subscribes, so it moves no index and holds back no pruning.
    """
    show = _show_json if as_json else _show_line
    with open_admin(redis_url) as admin:
        if not follow:
            for message in reversed(admin.messages(channel, limit=count)):
                show(message)
            return
        # Ctrl-C ends it; the group exits 130 as shells expect.
        _follow(admin, channel, count, show)


def _follow(admin: Admin, channel: str, count: int, show: Callable[[Message], None]) -> None:
    wakeup = Wakeup(admin.redis)

    def watch() -> None:
        admin.retry.run(lambda: wakeup.watch([channel]), "follow")

    try:
        # Subscribed before the first look, so a write landing between the look
        # and the wait still wakes the wait.
        watch()
        head = channel_info(admin, channel).head_id
        recent = admin.messages(channel, limit=count) if count else []
        for message in reversed(recent):
            show(message)
        last = max([head, *(int(m["id"]) for m in recent)])
        while True:
            wakeup.wait(None)
            try:
                watch()  # again after a dropped link, then look for what it missed
                last = _show_after(admin, channel, last, show)
            except (RivuletConnectionError, RivuletTimeoutError) as error:
                # Following outlives an outage: say so, and keep trying.
                click.echo(f"note: {error}; still trying", err=True)
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
        if last == start and last and channel_info(admin, channel).head_id < last:
            # Ids went down: the channel was deleted and created again.
            click.echo(f"note: channel {channel!r} was recreated", err=True)
            return _show_after(admin, channel, 0, show)
    except ChannelNotFoundError:
        if last:
            click.echo(f"note: channel {channel!r} was deleted; waiting for it", err=True)
        return 0
    return last
