"""The channel listing behind the overview and ``/api/channels``: sort, order,
the problems filter and the per-status summary.

Sorted by name (the default) a listing is one registry page, as before: a
constant number of round trips however many channels exist. Any other sort, or
``problems=1``, needs every channel's numbers: one full scan (three round trips
at any size), shared by concurrent requests and reused for at most the refresh
interval, so ten open tabs cost one scan per interval, not ten.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from werkzeug.exceptions import BadRequest

from rivulet.models import ChannelInfo, now_ms

from .backend import admin
from .shared import SingleFlight
from .status import PROBLEMS, SEVERITY, channel_status, status_rank

#: ``sort=`` values and the number each sorts by (ties go by name).
SORT_KEYS: dict[str, Callable[[ChannelInfo, str], Any]] = {
    "name": lambda info, _status: info.name,
    "messages": lambda info, _status: info.message_count,
    "head_id": lambda info, _status: info.head_id,
    "subscribers": lambda info, _status: info.subscriber_count,
    "lag": lambda info, _status: info.max_lag,
    "lag_seconds": lambda info, _status: info.max_lag_seconds if info.max_lag else 0.0,
    "last_write": lambda info, _status: -1 if info.last_write_ts is None else info.last_write_ts,
    # Higher is worse, so "desc" puts the worst first, like lag.
    "status": lambda _info, status: -status_rank(status),
}
#: The order a column starts in when its header is first clicked.
DEFAULT_ORDER = {"name": "asc"}
SCAN_KEY = "rivulet.listing.scan"


@dataclass(frozen=True)
class ChannelRow:
    """A channel's numbers and its status (worst of its subscribers')."""

    info: ChannelInfo
    status: str

    def to_dict(self) -> dict[str, Any]:
        return {**self.info.to_dict(), "status": self.status}


@dataclass(frozen=True)
class Listing:
    """One page of channels and what the page says about all of them."""

    rows: list[ChannelRow]
    total: int
    #: Channels per status, over every matching channel (scanned) or this page.
    counts: dict[str, int]
    #: When the scan this page was cut from was read (ms); None: a registry page.
    scanned_at_ms: int | None


@dataclass
class _Scan:
    at_monotonic: float
    at_ms: int
    rows: list[ChannelRow] = field(default_factory=list)


class ScanCache:
    """Full scans by filter, each kept for ``max_age_s``; concurrent misses share one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scans: dict[str | None, _Scan] = {}
        self._flight = SingleFlight[_Scan]()

    def get(self, match: str | None, max_age_s: float) -> _Scan:
        with self._lock:
            scan = self._scans.get(match)
        if scan is not None and time.monotonic() - scan.at_monotonic < max_age_s:
            return scan
        scan = self._flight.run(match, lambda: _scan(match))
        with self._lock:
            # Only the latest filters stay: an old filter's scan is dropped.
            if len(self._scans) > 32:
                self._scans.clear()
            self._scans[match] = scan
        return scan


def _with_status(infos: list[ChannelInfo]) -> list[ChannelRow]:
    """Each channel with its status: the library judges it in the same
    pipeline as the channel's numbers, so this costs no round trip."""
    return [ChannelRow(i, channel_status(i)) for i in infos]


def _scan(match: str | None) -> _Scan:
    at_ms = now_ms()
    infos, _total = admin().channel_page(match, offset=0, limit=None)
    rows = _with_status(list(infos))
    # Aged from when the scan finished: at 10,000 channels a scan can take
    # longer than the refresh interval, and aged from its start it would be
    # stale on arrival, so every request would scan again.
    return _Scan(time.monotonic(), at_ms, rows)


def parse(args: Mapping[str, str]) -> tuple[str, str, bool]:
    """``sort``, ``order`` and ``problems`` from a query string; 400 when unknown."""
    sort = args.get("sort", "").strip() or "name"
    if sort not in SORT_KEYS:
        raise BadRequest(f"sort must be one of {', '.join(SORT_KEYS)}")
    order = args.get("order", "").strip() or DEFAULT_ORDER.get(sort, "desc")
    if order not in ("asc", "desc"):
        raise BadRequest("order must be asc or desc")
    problems = args.get("problems", "").strip()
    if problems not in ("", "0", "1"):
        raise BadRequest("problems must be 1 or 0")
    return sort, order, problems == "1"


def counts_of(rows: list[ChannelRow]) -> dict[str, int]:
    """Channels per status, worst first, leaving out statuses nobody has."""
    counted = Counter(r.status for r in rows)
    ordered = [s for s in SEVERITY if counted[s]] + sorted(s for s in counted if s not in SEVERITY)
    return {s: counted[s] for s in ordered}


def listing(match: str | None, sort: str, order: str, problems: bool,
            offset: int, limit: int | None) -> Listing:
    """One page of channels sorted by ``sort``; only problem statuses if ``problems``."""
    if sort == "name" and order == "asc" and not problems:
        infos, total = admin().channel_page(match, offset=offset, limit=limit)
        rows = _with_status(list(infos))
        return Listing(rows, total, counts_of(rows), None)
    cache: ScanCache = current_app.extensions[SCAN_KEY]
    scan = cache.get(match, float(current_app.config["REFRESH_SECONDS"]))
    every = scan.rows
    counts = counts_of(every)
    if problems:
        every = [r for r in every if r.status in PROBLEMS]
    key = SORT_KEYS[sort]
    # Two stable passes: names ascending break every tie, whatever the order.
    ordered = sorted(every, key=lambda r: r.info.name)
    ordered.sort(key=lambda r: key(r.info, r.status), reverse=order == "desc")
    page = ordered[offset:] if limit is None else ordered[offset:offset + limit]
    return Listing(page, len(ordered), counts, scan.at_ms)


def init_app(app: Any) -> None:
    app.extensions[SCAN_KEY] = ScanCache()
