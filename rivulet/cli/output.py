"""Text for terminals: escaping, aligned tables, times and sizes for people, JSON.

Tables escape control characters; ``--json`` prints the data as stored, with the
dataclass field names as keys.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import unicodedata
from collections.abc import Sequence

import click

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


