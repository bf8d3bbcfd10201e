"""Times, durations, counts and statuses as people read them.

One module for every surface (the CLI's tables, Jupyter's rows, the
dashboard's Jinja filters), so ``4 min 59 s`` reads the same everywhere.
Nothing here imports Flask or pandas.
"""

from __future__ import annotations

import datetime as dt
import time

from .status import SEVERITY

#: What a missing value shows as.
NONE = "—"

#: SPEC 9's one palette: the tone each status word is shown in (the word is
#: always shown too, never colour alone).
STATUS_TONES: dict[str, str] = {
    "stopped": "red",
    "stalled": "red",
    "beyond head": "red",
    "error": "red",
    "falling behind": "amber",
    "behind": "amber",
    "caught up": "green",
    "catching up": "green",
}

#: ANSI colours for the tones (amber is the terminal's yellow).
_ANSI = {"red": "\x1b[31m", "amber": "\x1b[33m", "green": "\x1b[32m"}
_ANSI_RESET = "\x1b[0m"


def now_ms() -> int:
    return int(time.time() * 1000)


def duration(seconds: float | None) -> str:
    """A span of time in the two largest units that matter: ``3 min 4 s``."""
    if seconds is None:
        return NONE
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
    """How long before ``at_ms`` (default now) a millisecond timestamp was: ``4 min 2 s ago``."""
    if ts_ms is None:
        return "never"
    at_ms = now_ms() if at_ms is None else at_ms
    delta = (at_ms - ts_ms) / 1000
    if delta < 0.5:
        return "just now"
    return f"{duration(delta)} ago"


def utc_time(ts_ms: int | None) -> str:
    """Milliseconds since the epoch as UTC, e.g. ``2024-05-01 12:00:03Z``."""
    if ts_ms is None:
        return NONE
    stamp = dt.datetime.fromtimestamp(ts_ms / 1000, tz=dt.timezone.utc)
    return stamp.strftime("%Y-%m-%d %H:%M:%SZ")


def local_time(ts_ms: int | None) -> str:
    """Milliseconds since the epoch as this machine's local date-time with its
    offset, e.g. ``2024-05-01 14:00:03 +0200`` (notebooks are read where they run)."""
    if ts_ms is None:
        return NONE
    stamp = dt.datetime.fromtimestamp(ts_ms / 1000).astimezone()
    return stamp.strftime("%Y-%m-%d %H:%M:%S %z")


def count(number: int | None) -> str:
    """An integer with thousands separators."""
    return NONE if number is None else f"{number:,}"


def per_second(rate: float | None) -> str:
    """A rate as ``12/s``, with decimals only where they carry meaning:
    ``0.25/s``, ``3.5/s``, ``1,204/s``."""
    if rate is None:
        return NONE
    if rate == 0:
        return "0/s"
    if rate < 1:
        return f"{rate:.2f}/s"
    if rate < 10:
        return f"{rate:.1f}/s"
    return f"{rate:,.0f}/s"


def severity(status: str) -> int:
    """How bad a status word is: its place in rivulet.status.SEVERITY (unknown words first)."""
    return SEVERITY.index(status) if status in SEVERITY else -1


def tone(status: str) -> str:
    """``red``, ``amber``, ``green`` or '' (unknown words get no colour)."""
    return STATUS_TONES.get(status, "")


def ansi_status(status: str, colour: bool) -> str:
    """The status word, coloured for a terminal when ``colour`` is set."""
    code = _ANSI.get(tone(status))
    return f"{code}{status}{_ANSI_RESET}" if colour and code else status
