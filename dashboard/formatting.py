"""Jinja filters: times, durations, counts and message bodies as people read them."""

from __future__ import annotations

import datetime as dt
import json

from flask import Flask

from rivulet.models import now_ms

#: Message bodies longer than this are cut on list pages (the message page shows all).
PREVIEW_CHARS = 2000


def init_app(app: Flask) -> None:
    app.add_template_filter(ago)
    app.add_template_filter(iso_time)
    app.add_template_filter(duration)
    app.add_template_filter(count)
    app.add_template_filter(pretty)
    app.add_template_filter(preview)


def iso_time(ts_ms: int | None) -> str:
    """Milliseconds since the epoch as UTC, e.g. ``2024-05-01 12:00:03Z``."""
    if ts_ms is None:
        return "—"
    stamp = dt.datetime.fromtimestamp(ts_ms / 1000, tz=dt.timezone.utc)
    return stamp.strftime("%Y-%m-%d %H:%M:%SZ")


def duration(seconds: float | None) -> str:
    """A span of time in the two largest units that matter: ``3 min 4 s``."""
    if seconds is None:
        return "—"
    if seconds < 0:
        seconds = 0.0
    if seconds < 10:
        return f"{seconds:.1f} s" if seconds else "0 s"
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def ago(ts_ms: int | None, at_ms: int | None = None) -> str:
    """How long before now a millisecond timestamp was: ``4 min 2 s ago``."""
    if ts_ms is None:
        return "never"
    at_ms = now_ms() if at_ms is None else at_ms
    delta = (at_ms - ts_ms) / 1000
    if delta < 0.5:
        return "just now"
    return f"{duration(delta)} ago"


def count(number: int | None) -> str:
    """An integer with thousands separators."""
    return "—" if number is None else f"{number:,}"


def pretty(data: object) -> str:
    """JSON objects and arrays indented; anything else as it is."""
    text = data if isinstance(data, str) else str(data)
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            parsed = json.loads(stripped)
        except ValueError:
            return text
        return json.dumps(parsed, indent=2, ensure_ascii=False)
    return text


def preview(text: str, limit: int = PREVIEW_CHARS) -> str:
    """At most ``limit`` characters, saying how many were cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n… ({len(text) - limit:,} more characters)"
