"""Jinja filters: times, durations, counts and message bodies as people read them.

Times, durations and counts delegate to :mod:`rivulet.formatting`, which the
CLI and Jupyter rows use too, so every surface writes them alike.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation

from flask import Flask

from rivulet import formatting as shared

#: Message bodies longer than this are cut on list pages (the message page shows all).
PREVIEW_CHARS = 2000
#: Bodies longer than this are shown as stored: indenting them costs more than it helps.
PRETTY_MAX_CHARS = 256 * 1024
#: List pages indent only bodies this short; a preview must stay cheap to build.
PREVIEW_PRETTY_MAX_CHARS = 4 * PREVIEW_CHARS
#: JSON nested deeper than this is shown as stored: indentation grows with depth
#: times size, and the parser and printer recurse.
PRETTY_MAX_DEPTH = 32


def init_app(app: Flask) -> None:
    app.add_template_filter(ago)
    app.add_template_filter(iso_time)
    app.add_template_filter(duration)
    app.add_template_filter(count)
    app.add_template_filter(field_number)
    app.add_template_filter(pretty)
    app.add_template_filter(preview)
    app.add_template_filter(preview_body)


def iso_time(ts_ms: int | None) -> str:
    """Milliseconds since the epoch as UTC, e.g. ``2024-05-01 12:00:03Z``."""
    return shared.utc_time(ts_ms)


def duration(seconds: float | None) -> str:
    """A span of time in the two largest units that matter: ``3 min 4 s``."""
    return shared.duration(seconds)


def ago(ts_ms: int | None, at_ms: int | None = None) -> str:
    """How long before now a millisecond timestamp was: ``4 min 2 s ago``."""
    return shared.ago(ts_ms, at_ms)


def count(number: int | None) -> str:
    """An integer with thousands separators."""
    return shared.count(number)


def field_number(number: float | None) -> str:
    """A number as a form field's value: exact, without ``.0`` or an exponent
    (``%g`` would show 1234567 as ``1.23457e+06`` and save that back)."""
    if number is None:
        return ""
    if float(number).is_integer():
        return str(int(number))
    return format(number, ".15g")


class _NotFaithful(ValueError):
    """Indenting would change what the message says; show it as stored instead."""


def _exact_float(token: str) -> float:
    # 1e400 would print as Infinity, 0.1000000000000000055 as 0.1: not what was sent.
    try:
        value = float(token)
        if Decimal(repr(value)) != Decimal(token):
            raise _NotFaithful(token)
    except (OverflowError, InvalidOperation):
        raise _NotFaithful(token) from None
    return value


def _no_constant(token: str) -> object:
    raise _NotFaithful(f"{token} is not JSON")


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    # {"a": 1, "a": 2} would print as {"a": 2}, hiding a value.
    found = dict(pairs)
    if len(found) != len(pairs):
        raise _NotFaithful("duplicate key")
    return found


def _depth_within(text: str, limit: int) -> bool:
    """Whether brackets outside strings nest at most ``limit`` deep (a cheap pre-check)."""
    depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def pretty(data: object, max_chars: int = PRETTY_MAX_CHARS) -> str:
    """JSON objects and arrays indented; anything else, or anything indenting
    would misstate or cannot afford, exactly as it is.

    Message bodies are whatever producers wrote: any text must render (a page
    that 500s hides the forms to prune or delete the channel).
    """
    text = data if isinstance(data, str) else str(data)
    stripped = text.strip()
    if stripped[:1] not in ("{", "[") or len(text) > max_chars:
        return text
    if not _depth_within(stripped, PRETTY_MAX_DEPTH):
        return text
    try:
        parsed = json.loads(
            stripped,
            parse_float=_exact_float,
            parse_constant=_no_constant,
            object_pairs_hook=_unique_keys,
        )
        shown = json.dumps(parsed, indent=2, ensure_ascii=False)
        # "\ud800" parses to a lone surrogate, which no page can encode.
        shown.encode("utf-8")
    except (ValueError, RecursionError):  # UnicodeEncodeError is a ValueError
        return text
    return shown


def preview_body(data: object) -> str:
    """What a list page shows of a body: indented only if short, then cut."""
    return preview(pretty(data, max_chars=PREVIEW_PRETTY_MAX_CHARS))


def preview(text: str, limit: int = PREVIEW_CHARS) -> str:
    """At most ``limit`` characters, saying how many were cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n… ({len(text) - limit:,} more characters)"
