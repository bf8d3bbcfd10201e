"""Channel commands: ``channels`` lists them; ``prune``, ``delete`` and
``retention`` act on one."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

import click

from ..exceptions import ChannelNotFoundError
from ..formatting import NONE, now_ms, per_second, severity
from ..names import validate_name
from .options import (
    COUNT,
    NO_CAP,
    cap,
    channel_info,
    checked,
    json_option,
    open_admin,
    parse_count,
    parse_seconds,
    redis_url_option,
)
from .output import ago, count, duration, emit_json, safe, status_cell, table, terminal_columns


@click.command()
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
        [safe(r.name), status_cell(r.status), count(r.message_count), count(r.head_id),
         count(r.subscriber_count), count(r.max_lag),
         duration(r.max_lag_seconds) if r.max_lag else NONE, ago(r.last_write_ts, now),
         per_second(r.write_rate), safe(r.error or "")]
        for r in rows
    ]
    worst = max(rows, key=lambda r: (r.max_lag_seconds, r.max_lag))
    shown = f"{len(rows)} of {total}" if len(rows) < total else f"{total}"
    # The total's status is the worst shown, as a channel's is its worst subscriber's.
    body.append([
        f"TOTAL ({shown} channels)", status_cell(max((r.status for r in rows), key=severity)),
        count(sum(r.message_count for r in rows)), "",
        count(sum(r.subscriber_count for r in rows)), count(max(r.max_lag for r in rows)),
        duration(worst.max_lag_seconds) if worst.max_lag else NONE, "",
        per_second(_sum_rates(r.write_rate for r in rows)), "",
    ])
    headers = ["CHANNEL", "STATUS", "MESSAGES", "HEAD", "SUBSCRIBERS", "WORST LAG",
               "OLDEST UNREAD", "LAST WRITE", "WRITE RATE", "ERROR"]
    if not any(r.error for r in rows):
        headers, body = headers[:-1], [row[:-1] for row in body]
    click.echo(table(headers, body, right=(2, 3, 4, 5, 8), columns=terminal_columns(),
                     whole=(len(body) - 1,)))


def _sum_rates(rates: Iterable[float | None]) -> float | None:
    """The channels' write rates added up; None when no channel has one yet."""
    known = [r for r in rates if r is not None]
    return sum(known) if known else None


@click.command()
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


@click.command()
@click.argument("channel", callback=checked(validate_name))
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@redis_url_option
def delete(channel: str, yes: bool, redis_url: str) -> None:
    """Delete CHANNEL: its messages, indexes and settings. Asks first unless --yes."""
    with open_admin(redis_url) as admin:
        info = channel_info(admin, channel)
        if not yes:
            if sys.stdin is None or not sys.stdin.isatty():
                raise click.UsageError("stdin is not a terminal, so nobody can confirm; "
                                       "pass --yes to delete without asking")
            question = (f"Delete channel {channel!r} with {count(info.message_count)} messages "
                        f"and {count(info.subscriber_count)} subscribers?")
            if not click.confirm(question, err=True):
                raise click.ClickException(f"channel {channel!r} not deleted")
        if not admin.delete_channel(channel):
            raise ChannelNotFoundError(channel)  # deleted by someone else meanwhile
    click.echo(f"deleted channel {channel!r}")


def _caps(max_messages: int | None, max_age: float | None) -> str:
    messages = "no message cap" if max_messages is None else f"max {count(max_messages)} messages"
    age = "no age cap" if max_age is None else f"max age {duration(max_age)}"
    return f"{messages}, {age}"


@click.command()
@click.argument("channel", callback=checked(validate_name))
@click.option("--max-messages", metavar="N|none", callback=checked(cap(parse_count)),
              help="Keep at most N messages ('none' removes the cap).")
@click.option("--max-age", metavar="SECONDS|none", callback=checked(cap(parse_seconds)),
              help="Drop messages older than this ('none' removes the cap).")
@redis_url_option
def retention(channel: str, max_messages: Any, max_age: Any, redis_url: str) -> None:
    """Show CHANNEL's retention caps, or change the ones given (writes enforce them)."""
    with open_admin(redis_url) as admin:
        info = channel_info(admin, channel)
        if max_messages is None and max_age is None:
            click.echo(f"{channel!r}: {_caps(info.max_messages, info.max_age)}")
            return
        # An option not given keeps its current cap.
        new_messages = info.max_messages if max_messages is None else max_messages
        new_age = info.max_age if max_age is None else max_age
        new_messages = None if new_messages == NO_CAP else new_messages
        new_age = None if new_age == NO_CAP else new_age
        removed = admin.set_retention(channel, max_messages=new_messages, max_age=new_age)
        # Say what is stored, not what was asked: the store caps a huge count at
        # 2^53 - 1 and keeps ages in whole milliseconds.
        stored = channel_info(admin, channel)
    click.echo(f"{channel!r}: {_caps(stored.max_messages, stored.max_age)}; removed {removed} now")
