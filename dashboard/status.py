"""Subscriber and channel status, and its one palette, for every screen.

The library is turning ``SubscriberInfo.status()`` (a method) into a field and
adding ``ChannelInfo.status``; every template and view asks here, so switching
over is a change in this module only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from flask import Flask

from rivulet import status as status_rules
from rivulet.formatting import STATUS_TONES

#: Worst first: a channel's (or client's) status is its worst subscriber's.
#: The library's order, so the dashboard, the CLI and the API agree.
SEVERITY = tuple(reversed(status_rules.SEVERITY))
RANK = {status: rank for rank, status in enumerate(SEVERITY)}
#: What ``problems=1`` keeps (SPEC section 9), and a channel that cannot be read.
PROBLEMS = frozenset({"stopped", "stalled", "falling behind", "beyond head", "error"})
#: The palette (rivulet.formatting's, shared with the CLI and Jupyter) as the
#: tone classes the CSS draws; the word is always shown too.
TONE = {status: {"red": "bad", "amber": "warn", "green": "good"}[tone]
        for status, tone in STATUS_TONES.items()}
#: A channel nobody reads has no status to judge; it sorts after the judged ones.
NO_STATUS = "no subscribers"


def subscriber_status(row: Any, at_ms: int | None = None) -> str:
    """A subscriber row's status, whether the library gives it as a field or a method."""
    status = row.status
    return str(status(at_ms) if callable(status) else status)


def worst(statuses: Iterable[str]) -> str:
    """The most severe of ``statuses`` (``no subscribers`` when there are none)."""
    return min(statuses, key=lambda s: RANK.get(s, len(SEVERITY)), default=NO_STATUS)


def channel_status(info: Any, subscribers: Iterable[Any] | None = None,
                   at_ms: int | None = None) -> str:
    """A channel's status: its own field when the library has one, else the
    worst of ``subscribers``' (``no subscribers`` without any)."""
    own = getattr(info, "status", None)
    if own == status_rules.ERROR:
        return status_rules.ERROR  # unreadable: its counts are not zeros to judge
    if getattr(info, "subscriber_count", None) == 0:
        # The library's field defaults to "caught up"; nobody reads, nothing to judge.
        return NO_STATUS
    if isinstance(own, str):
        return own
    return worst(subscriber_status(s, at_ms) for s in subscribers or ())


def status_rank(status: str) -> int:
    """0 for the worst status; unknown words and ``no subscribers`` rank last."""
    return RANK.get(status, len(SEVERITY))


def status_tone(status: str) -> str:
    """``bad``, ``warn``, ``good`` or ``none``: the palette's tone for a status."""
    return TONE.get(status, "none")


def status_class(status: str) -> str:
    """The CSS classes for a status word: its tone and its own name."""
    tone = TONE.get(status, "none")
    return f"status status-{tone} status-{status.replace(' ', '-')}"


def row_id(prefix: str, name: str) -> str:
    """A stable, attribute-safe element id for a row named by any string: the
    live refresh morphs rows by id, and names may hold spaces or quotes."""
    digest = hashlib.blake2s(name.encode("utf-8", "surrogatepass"), digest_size=8)
    return f"{prefix}-{digest.hexdigest()}"


def init_app(app: Flask) -> None:
    app.jinja_env.filters["status_class"] = status_class
    app.jinja_env.filters["status_tone"] = status_tone
    app.jinja_env.globals["channel_status"] = channel_status
    app.jinja_env.globals["subscriber_status"] = subscriber_status
    app.jinja_env.globals["row_id"] = row_id
