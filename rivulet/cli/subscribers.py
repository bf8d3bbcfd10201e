"""Subscriber commands: ``lag`` and ``clients`` show read positions; ``move`` and
``remove`` change them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from ..admin import Admin
from ..exceptions import ChannelNotFoundError, RivuletError
from ..formatting import NONE, now_ms
from ..models import SubscriberInfo
from ..names import validate_name
from .options import (
    COUNT,
    channel_info,
    checked,
    json_option,
    open_admin,
    parse_client_id,
    parse_index,
    redis_url_option,
)
from .output import (
    ago,
    count,
    duration,
    emit_json,
    safe,
    status_cell,
    table,
    terminal_columns,
    utc_time,
)
from .watch import redraw


def _subscriber_dict(row: SubscriberInfo) -> dict[str, Any]:
    return {**row.to_dict(), "pruned_unread": row.pruned_unread}


def every_subscriber(admin: Admin) -> tuple[list[SubscriberInfo], int]:
    """Subscribers of every channel, and how many channels were left out."""
    # channels(), not channel_names(): its INFO finds a broken channel with no
    # subscribers (subscribers_many never reads that one's messages) and names
    # registered around the library, which subscribers_many refuses outright.
    listed = admin.channels()
    names = [c.name for c in listed if c.error is None and c.subscriber_count]
    found = admin.subscribers_many(names)  # leaves out what it cannot read
    rows = [row for name in names for row in found.get(name, [])]
    broken = sum(1 for c in listed if c.error is not None)
    return rows, broken + len(set(names) - found.keys())


def read_subscribers(admin: Admin, channels: Sequence[str]) -> list[SubscriberInfo]:
    """Subscribers of ``channels`` (every channel when empty), worst first across
    all of them: the row that needs attention is the first one read."""
    if len(channels) == 1:
        rows = list(admin.subscribers(channels[0]))
    elif channels:
        found = admin.subscribers_many(channels)  # one round trip for all of them
        missing = [name for name in channels if name not in found]
        if missing:
            # An unknown (or unreadable) name is an error, not "no subscribers".
            raise ChannelNotFoundError(missing[0])
        rows = [row for name in channels for row in found.get(name, [])]
    else:
        rows, left_out = every_subscriber(admin)
        if left_out:
            click.echo(f"note: left out {left_out} channel(s) holding data rivulet cannot "
                       "read; `rivulet channels` shows why", err=True)
    rows.sort(key=lambda r: (-r.lag, -r.lag_seconds, r.channel, r.client_id))
    return rows


def lag_table(rows: Sequence[SubscriberInfo], at_ms: int, one_channel: bool) -> str:
    """The ``lag`` table (without the channel column for one channel)."""
    if not rows:
        return "no subscribers"
    body = [
        [safe(r.channel), safe(r.client_id), count(r.index), count(r.lag), count(r.pending),
         count(r.pruned_unread), duration(r.lag_seconds) if r.lag else NONE,
         ago(r.last_read_ts, at_ms), status_cell(r.status)]
        for r in rows
    ]
    headers = ["CHANNEL", "CLIENT", "INDEX", "LAG", "PENDING", "PRUNED UNREAD", "LAG TIME",
               "LAST READ", "STATUS"]
    if one_channel:
        return table(headers[1:], [row[1:] for row in body], right=(1, 2, 3, 4),
                     columns=terminal_columns())
    return table(headers, body, right=(2, 3, 4, 5), columns=terminal_columns())


class LagFrames:
    """The frames of ``lag --watch``. A watch is left running on a wall screen:
    a Redis outage or hang shows as an error line above the last table read
    (and when it was read), and the next frame looks again."""

    def __init__(self, admin: Admin, names: list[str], interval_s: float) -> None:
        self.admin, self.names, self.interval_s = admin, names, interval_s
        self.last: tuple[str, int] | None = None

    def __call__(self) -> str:
        now = now_ms()
        head = f"{utc_time(now)}  every {duration(self.interval_s)}  (Ctrl-C to stop)\n\n"
        try:
            rows = read_subscribers(self.admin, self.names)
        except RivuletError as error:
            note = f"Error: {safe(' '.join(str(error).split()))} (trying again)"
            if self.last is None:
                return head + note
            table, read_ms = self.last
            return f"{head}{note}\n\nAs read {ago(read_ms, now)}:\n{table}"
        table = lag_table(rows, now, len(self.names) == 1)
        self.last = (table, now)
        return head + table


@click.command()
@click.argument("channel", required=False, callback=checked(validate_name))
@click.option("-w", "--watch", is_flag=True, help="Redraw the table until Ctrl-C.")
@click.option("--interval", type=click.FloatRange(min=0.1), default=2.0, show_default=True,
              metavar="SECONDS", help="Seconds between redraws with --watch.")
@json_option
@redis_url_option
def lag(channel: str | None, watch: bool, interval: float, as_json: bool,
        redis_url: str) -> None:
    """Show each subscriber's index and lag, worst first, for CHANNEL or every channel.

    PRUNED UNREAD counts messages removed before the subscriber read them.
    """
    if watch and as_json:
        raise click.UsageError("--watch redraws a table; it does not combine with --json")
    names = [] if channel is None else [channel]
    with open_admin(redis_url) as admin:
        if watch:
            redraw(LagFrames(admin, names, interval), interval)
            return
        rows = read_subscribers(admin, names)
    if as_json:
        emit_json({"subscribers": [_subscriber_dict(row) for row in rows]})
        return
    click.echo(lag_table(rows, now_ms(), channel is not None))


@click.command()
@click.option("--limit", type=COUNT, metavar="N", help="Show at most N clients.")
@click.option("--offset", type=COUNT, default=0, metavar="N", help="Skip the first N clients.")
@json_option
@redis_url_option
def clients(limit: int | None, offset: int, as_json: bool, redis_url: str) -> None:
    """List clients with the channels they read: index, lag and status in each."""
    with open_admin(redis_url) as admin:
        rows = admin.clients(offset=offset, limit=limit)
        total = admin.client_count() if as_json else 0
        # Status needs each subscriber's last read: one listing for every channel shown.
        names = sorted({name for r in rows for name in r.channels})
        found = admin.subscribers_many(names) if names and not as_json else {}
    if as_json:
        emit_json({"clients": [row.to_dict() for row in rows], "total": total})
        return
    if not rows:
        click.echo("no clients")
        return
    statuses = {(s.channel, s.client_id): s.status for subs in found.values() for s in subs}
    body = [
        [safe(r.client_id), safe(channel), count(index), count(r.lags.get(channel, 0)),
         status_cell(statuses.get((channel, r.client_id), NONE))]
        for r in rows
        for channel, index in sorted(r.channels.items())
    ]
    click.echo(table(["CLIENT", "CHANNEL", "INDEX", "LAG", "STATUS"], body, right=(2, 3),
                     columns=terminal_columns()))


@click.command()
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


@click.command()
@click.argument("channel", callback=checked(validate_name))
@click.argument("client", callback=checked(parse_client_id))
@redis_url_option
def remove(channel: str, client: str, redis_url: str) -> None:
    """Unsubscribe CLIENT from CHANNEL; the last subscriber leaving deletes the channel."""
    with open_admin(redis_url) as admin:
        channel_info(admin, channel)
        if not admin.remove_subscriber(channel, client):
            raise click.ClickException(f"client {client!r} is not subscribed to {channel!r}")
        try:
            channel_info(admin, channel)
            gone = ""
        except ChannelNotFoundError:
            gone = "; it was the last subscriber, so the channel was deleted"
    click.echo(f"removed {client!r} from {channel!r}{gone}")
