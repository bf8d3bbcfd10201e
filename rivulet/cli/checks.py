"""``rivulet check``: lag thresholds for cron and CI, answered by the exit status."""

from __future__ import annotations

from collections.abc import Sequence

import click

from ..formatting import STATUS_TONES, duration
from ..models import SubscriberInfo
from ..names import validate_name
from .options import checked, open_admin, parse_count, parse_seconds, redis_url_option
from .output import count, safe, status_cell, table, terminal_columns
from .subscribers import read_subscribers

#: Checked when no threshold is given: the statuses the palette shows in red.
DEFAULT_STATUSES = tuple(word for word, tone in STATUS_TONES.items() if tone == "red")


def parse_statuses(value: str) -> tuple[str, ...]:
    """``stopped,stalled`` as status words, each one the palette knows."""
    words = tuple(word.strip().lower() for word in value.split(",") if word.strip())
    unknown = [word for word in words if word not in STATUS_TONES]
    if unknown or not words:
        raise ValueError(f"unknown status {', '.join(map(repr, unknown)) or repr(value)}; "
                         f"choose from {', '.join(STATUS_TONES)}")
    return words


def offences(row: SubscriberInfo, max_lag: int | None, max_lag_seconds: float | None,
             statuses: Sequence[str]) -> list[str]:
    """Why ``row`` crosses a threshold (empty when it crosses none)."""
    found = []
    if max_lag is not None and row.lag > max_lag:
        found.append(f"lag {count(row.lag)} > {count(max_lag)}")
    # lag_seconds comes from the lag history too, so it holds while every unread
    # message was pruned (pending 0); only a caught-up subscriber has no lag time.
    lag_s = row.lag_seconds if row.lag else 0.0
    if max_lag_seconds is not None and lag_s > max_lag_seconds:
        found.append(f"lag time {duration(lag_s)} > {duration(max_lag_seconds)}")
    if row.status in statuses:
        found.append(f"status {row.status}")
    return found


def _channel_names(ctx: click.Context, param: click.Parameter,
                   value: tuple[str, ...]) -> tuple[str, ...]:
    one = checked(validate_name)
    return tuple(one(ctx, param, name) for name in value)


@click.command()
@click.argument("channels", nargs=-1, callback=_channel_names)
@click.option("--max-lag", metavar="N", callback=checked(parse_count),
              help="Offend when a subscriber is more than N messages behind.")
@click.option("--max-lag-seconds", metavar="S", callback=checked(parse_seconds),
              help="Offend when a subscriber's oldest unread message is older (10m, 2h...).")
@click.option("--status", "statuses", metavar="WORD,...", callback=checked(parse_statuses),
              help="Offend on these statuses. Default, with no other threshold: "
                   f"{','.join(DEFAULT_STATUSES)}.")
@redis_url_option
def check(channels: tuple[str, ...], max_lag: int | None, max_lag_seconds: float | None,
          statuses: tuple[str, ...] | None, redis_url: str) -> int:
    """Exit 1 and print the offenders if any subscriber of CHANNELS (default: every
    channel) crosses a threshold; exit 0 and say so otherwise."""
    if statuses is None:
        statuses = () if max_lag is not None or max_lag_seconds is not None else DEFAULT_STATUSES
    with open_admin(redis_url) as admin:
        rows = read_subscribers(admin, channels)
    body = []
    for row in rows:
        found = offences(row, max_lag, max_lag_seconds, statuses)
        if found:
            body.append([safe(row.channel), safe(row.client_id), count(row.lag),
                         status_cell(row.status), "; ".join(found)])
    if not body:
        click.echo(f"ok: {count(len(rows))} subscriber{'' if len(rows) == 1 else 's'} "
                   "within thresholds")
        return 0
    click.echo(table(["CHANNEL", "CLIENT", "LAG", "STATUS", "OFFENCE"], body, right=(2,),
                     columns=terminal_columns()))
    return 1
