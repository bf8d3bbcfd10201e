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
import shutil
import sys
import unicodedata
from collections.abc import Sequence

import click

from ..formatting import ago, ansi_status, count, duration, utc_time

__all__ = [
    "ago", "count", "duration", "emit_json", "safe", "shorten", "status_cell", "table",
    "terminal_columns", "use_colour", "utc_time", "width",
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


#: A shortened name column keeps at least this many columns.
MIN_NAME_COLUMNS = 16


def table(headers: Sequence[str], rows: Sequence[Sequence[str]],
          right: Sequence[int] = (), columns: int | None = None,
          whole: Sequence[int] = ()) -> str:
    """Rows as aligned columns under ``headers``; columns in ``right`` are
    right-aligned (numbers).

    ``columns`` is the terminal's width (:func:`terminal_columns`): a table
    wider than it has its widest text columns shortened in the middle, with
    an ellipsis, rather than every line wrapping because of one 200-character
    channel or client id. Numbers are never shortened, and neither is
    anything when ``columns`` is None (piped output, which scripts read) or
    ``--json``: those keep every name whole. Nor are the rows in ``whole`` (a
    totals line): their cells set how narrow their columns may get.
    """
    all_rows = [headers, *rows]
    widths = [max(width(r[i]) for r in all_rows) for i in range(len(headers))]
    if columns is not None:
        floors = [max([MIN_NAME_COLUMNS, *(width(rows[r][i]) for r in whole)])
                  for i in range(len(headers))]
        cap = _name_cap(widths, floors, set(right), columns)
        if cap is not None:
            fitted = [w if i in right else min(w, max(cap, floors[i]))
                      for i, w in enumerate(widths)]
            all_rows = [[cell if i in right else shorten(cell, fitted[i])
                         for i, cell in enumerate(r)] for r in all_rows]
            widths = fitted
    lines = []
    for row in all_rows:
        cells = []
        for i, cell in enumerate(row):
            pad = " " * (widths[i] - width(cell))
            cells.append(pad + cell if i in right else cell + pad)
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _name_cap(widths: list[int], floors: list[int], right: set[int], columns: int
              ) -> int | None:
    """The widest a text column may be for the table to fit ``columns`` (a
    column never narrower than its floor); None when it fits as it is."""
    def total(cap: int) -> int:
        return sum(w if i in right else min(w, max(cap, floors[i]))
                   for i, w in enumerate(widths)) + 2 * (len(widths) - 1)

    widest = max((w for i, w in enumerate(widths) if i not in right), default=0)
    if total(widest) <= columns:
        return None
    cap = widest
    while cap > MIN_NAME_COLUMNS and total(cap) > columns:
        cap -= 1
    return cap


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` terminal columns by taking out its middle
    (ids often differ at either end: ``orders-eu-…-replica-2``)."""
    if width(text) <= limit or "\x1b" in text:
        return text  # coloured cells are status words, short already
    budget = limit - 1
    head_budget = budget - budget // 2
    head, used = [], 0
    for ch in text:
        if used + width(ch) > head_budget:
            break
        head.append(ch)
        used += width(ch)
    tail, used_tail = [], 0
    for ch in reversed(text):
        if used + used_tail + width(ch) > budget:
            break
        tail.append(ch)
        used_tail += width(ch)
    return "".join(head) + "…" + "".join(reversed(tail))


def terminal_columns() -> int | None:
    """The terminal's width when stdout is one (tables are fitted to it);
    None for piped output, which keeps every name whole."""
    isatty = getattr(sys.stdout, "isatty", None)
    if not (isatty and isatty()):
        return None
    return shutil.get_terminal_size().columns


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


