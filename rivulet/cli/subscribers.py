"""Subscriber commands: ``lag`` and ``clients`` show read positions; ``move`` and
``remove`` change them."""

from __future__ import annotations

from typing import Any

import click

from ..admin import Admin
from ..exceptions import ChannelNotFoundError
from ..models import SubscriberInfo, now_ms
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
from .output import ago, duration, emit_json, number, safe, table


def _subscriber_dict(row: SubscriberInfo, at_ms: int) -> dict[str, Any]:
    return {**row.to_dict(), "pruned_unread": row.pruned_unread, "status": row.status}


def _every_subscriber(admin: Admin) -> tuple[list[SubscriberInfo], int]:
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


@click.command()
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
            rows, left_out = _every_subscriber(admin)
            if left_out:
                click.echo(f"note: left out {left_out} channel(s) holding data rivulet cannot "
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
         ago(r.last_read_ts, now), r.status]
        for r in rows
    ]
    headers = ["CHANNEL", "CLIENT", "INDEX", "LAG", "PENDING", "PRUNED UNREAD", "LAG TIME",
               "LAST READ", "STATUS"]
    if channel is not None:
        headers, body = headers[1:], [row[1:] for row in body]
        click.echo(table(headers, body, right=(1, 2, 3, 4)))
    else:
        click.echo(table(headers, body, right=(2, 3, 4, 5)))


@click.command()
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
