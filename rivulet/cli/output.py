"""Text for terminals: escaping, aligned tables, coloured status words, JSON.

Times, durations and counts come from :mod:`rivulet.formatting`, as the
dashboard writes them.

Tables escape control characters; ``--json`` prints the data as stored, with the
dataclass field names as keys.
"""

from __future__ import annotations

import json
import os
import re
import sys
import unicodedata
from collections.abc import Sequence

import click

from ..formatting import ago, ansi_status, count, duration, utc_time

__all__ = [
    "ago", "count", "duration", "emit_json", "safe", "status_cell", "table", "use_colour",
    "utc_time", "width",
]

_ANSI_CODE = re.compile("\x1b\\[[0-9;]*m")

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
    if "\x1b" in text:
        text = _ANSI_CODE.sub("", text)  # colour codes take no columns
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


def use_colour() -> bool:
    """Colour only for a person at a terminal, and never under ``NO_COLOR``."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(sys.stdout, "isatty", None)
    return bool(isatty and isatty())


def status_cell(status: str) -> str:
    """A status word for a table (the word itself, coloured on a terminal)."""
    return ansi_status(status, use_colour())


def emit_json(value: object) -> None:
    # Non-ASCII is printed as itself only where stdout can carry it.
    encoding = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "")
    click.echo(json.dumps(value, ensure_ascii=not encoding.startswith("utf")))


