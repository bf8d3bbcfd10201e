"""Lag history: the snapshots the scripts record, parsed, and its settings.

The hot scripts (write, read, commit) append a snapshot of the head and
every subscriber's index to ``rvl:hist:{C}`` at most once per interval
(``record_history`` in scripts/_lib.lua). Keeping it in Redis under the
channel's hash tag means no extra process, nothing lost when the dashboard
or a client restarts, and it goes with the channel.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable

from .codec import text
from .status import Point

#: Defaults, as in scripts/_lib.lua (HISTORY_INTERVAL_MS, HISTORY_KEEP_MS).
DEFAULT_INTERVAL_S = 10.0
DEFAULT_KEEP_S = 3600.0


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """One recorded moment of a channel: time (ms), head id, indexes."""

    ts: int
    head_id: int
    indexes: dict[str, int]


def parse(raw: Iterable[bytes | str]) -> list[Snapshot]:
    """Snapshots from LRANGE's reply, oldest first; lines that are not ours
    (written around the library) are skipped rather than failing a listing."""
    snapshots = []
    for entry in raw:
        lines = text(entry).split("\n")
        try:
            ts, head = (int(v) for v in lines[0].split(" "))
            indexes = {}
            for line in lines[1:]:
                index, client = line.split("\t", 1)
                indexes[client] = int(index)
        except ValueError:
            continue
        snapshots.append(Snapshot(ts, head, indexes))
    snapshots.sort(key=lambda s: s.ts)
    return snapshots


def points(snapshots: Iterable[Snapshot], client_id: str) -> list[Point]:
    """One subscriber's view of the snapshots it appears in."""
    return [Point(s.ts, s.indexes[client_id], s.head_id)
            for s in snapshots if client_id in s.indexes]


def head_points(snapshots: Iterable[Snapshot]) -> list[Point]:
    """The channel's head over time (index 0: only ts and head matter)."""
    return [Point(s.ts, 0, s.head_id) for s in snapshots]


#: A shorter interval would snapshot on nearly every call, which is not the
#: "one extra command except once per interval" the hot path promises.
MIN_INTERVAL_S = 0.001
#: Ten years: past that a setting is a typo, and in ms it would leave the
#: integers a Lua number holds exactly.
MAX_SETTING_S = 10 * 365 * 86_400


def settings_mapping(interval: float | None, keep: float) -> dict[str, int]:
    """The rvl:hcfg:{C} fields for Admin.set_history, validated: ``interval``
    in seconds (None stops recording), ``keep`` in seconds, both finite and
    positive, keep at least one interval."""
    for name, value in (("interval", interval), ("keep", keep)):
        if value is None and name == "interval":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
        if value > MAX_SETTING_S:
            raise ValueError(f"{name} must be at most {MAX_SETTING_S} seconds (ten years), "
                             f"not {value!r}")
    if interval is not None and interval < MIN_INTERVAL_S:
        raise ValueError(f"interval must be at least {MIN_INTERVAL_S} s, not {interval!r}")
    keep_ms = max(1, round(keep * 1000))
    if interval is None:
        return {"interval_ms": 0, "keep_ms": keep_ms}
    interval_ms = max(1, round(interval * 1000))
    if keep_ms < interval_ms:
        raise ValueError(f"keep ({keep} s) must be at least one interval ({interval} s)")
    return {"interval_ms": interval_ms, "keep_ms": keep_ms}


@dataclasses.dataclass(frozen=True)
class HistorySettings:
    """A channel's lag history settings in force: a snapshot at most every
    ``interval_s`` seconds (None: recording stopped), kept for ``keep_s``
    seconds; ``default`` when the channel was never given its own."""

    interval_s: float | None
    keep_s: float
    default: bool


def _stored_ms(raw: bytes | str | None) -> float | None:
    # As record_history's tonumber(): what is not a number counts as unset.
    if raw is None:
        return None
    try:
        value = float(text(raw))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def settings_from(interval_ms: bytes | str | None, keep_ms: bytes | str | None) -> HistorySettings:
    """The settings the recorder applies, from HMGET rvl:hcfg:{C} interval_ms keep_ms:
    a field that is missing, or holds no number, is its default (as in
    scripts/_lib.lua), and an interval of 0 or less means recording stopped."""
    interval, keep = _stored_ms(interval_ms), _stored_ms(keep_ms)
    interval_s = DEFAULT_INTERVAL_S if interval is None else interval / 1000
    return HistorySettings(
        interval_s=None if interval_s <= 0 else interval_s,
        keep_s=DEFAULT_KEEP_S if keep is None else keep / 1000,
        default=interval is None and keep is None,
    )
