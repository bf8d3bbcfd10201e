"""Finding stored messages by content and by time, and previewing a prune.

Each operation is one Lua script on one channel's hash-tagged keys (so one
round trip, atomic, and cluster-ready). Search scans at most a bounded number
of messages per call and says where to go on, so searching a channel of
millions pages instead of blocking Redis. :class:`rivulet.Admin` exposes these.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from . import keys, scripts
from .codec import MAX_TS_MS, Message, decode_for_display, text
from .exceptions import ChannelNotFoundError
from .retry import RetryPolicy

SEARCH = scripts.Script("search")
SEEK = scripts.Script("seek")
PRUNE_PREVIEW = scripts.Script("prune_preview")

#: How many stored messages one search call reads at most: a few ms of Redis
#: time, so a search never stalls the writers sharing the server.
SCAN_BUDGET = 5_000
#: The longest search text: a needle is sent with every page of a search.
MAX_QUERY_CHARS = 200

_DIGITS = re.compile(r"^\d+$")


@dataclass(frozen=True)
class SearchPage:
    """One page of matches, newest first.

    ``resume`` is the id to search below next (``before_id``), or None when
    the oldest stored message was scanned; ``scanned`` counts messages read.
    """

    messages: list[Message]
    resume: int | None
    scanned: int


@dataclass(frozen=True)
class PrunePreview:
    """What a prune would remove: ``count`` messages, all with ids <= ``upto_id``
    (None when nothing would go), and how many of them each subscriber has
    not read (only subscribers who would lose something are listed)."""

    count: int
    upto_id: int | None
    unread: dict[str, int] = field(default_factory=dict)


def parse_time_ms(raw: str) -> int:
    """A time typed by a person as ms since the epoch.

    Takes a whole number of milliseconds or ISO-8601 (``2026-12-01T08:00``,
    ``...Z``, ``...+01:00``, a bare date); a time without a zone is UTC, the
    zone every page shows. Raises ValueError saying what was expected.
    """
    raw = raw.strip()
    if _DIGITS.match(raw):
        return _shown(int(raw), raw)
    value = raw[:-1] + "+00:00" if raw[-1:] in ("Z", "z") else raw
    try:
        moment = datetime.fromisoformat(value.replace(" ", "T", 1))
    except ValueError:
        raise ValueError(
            f"{raw[:40]!r} is not a time: use ISO-8601 such as 2026-12-01T08:00:00Z, "
            "or milliseconds since 1970"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    ms = int(moment.timestamp() * 1000)
    if ms < 0:
        raise ValueError(f"{raw[:40]!r} is before 1970")
    return _shown(ms, raw)


def _shown(ms: int, raw: str) -> int:
    # Pages print the time back as a date: one past year 9999 has none.
    if ms > MAX_TS_MS:
        raise ValueError(f"{raw[:40]!r} is after the year 9999")
    return ms


def _run(redis: Any, retry: RetryPolicy, script: scripts.Script, channel: str,
         args: list[Any], what: str) -> Any:
    try:
        return retry.run(lambda: script(redis, keys.channel_keys(channel)[:3], args), what)
    except ChannelNotFoundError:
        raise ChannelNotFoundError(channel) from None


def search(redis: Any, retry: RetryPolicy, channel: str, query: str,
           before_id: int | None, limit: int, budget: int | None = None) -> SearchPage:
    """Messages below ``before_id`` whose data or src contains ``query``,
    reading at most ``budget`` (default :data:`SCAN_BUDGET`) of them."""
    budget = SCAN_BUDGET if budget is None else budget
    if not isinstance(query, str) or not query:
        raise ValueError("search needs some text to find")
    if len(query) > MAX_QUERY_CHARS:
        raise ValueError(f"search text is at most {MAX_QUERY_CHARS} characters")
    # ASCII-only lowering, as Lua's string.lower does: both sides agree.
    needle = "".join(c.lower() if c.isascii() else c for c in query)
    found, resume, scanned = _run(
        redis, retry, SEARCH, channel,
        [needle, "" if before_id is None else before_id, max(1, limit), max(1, budget)],
        "search",
    )
    rows = [decode_for_display(found[i], found[i + 1]) for i in range(0, len(found), 2)]
    resume = int(resume)
    return SearchPage(rows, None if resume < 0 else resume, int(scanned))


def first_id_at_or_after(redis: Any, retry: RetryPolicy, channel: str,
                         at_ms: int) -> tuple[int | None, int]:
    """The id of the first stored message written at or after ``at_ms``
    (None if there is none) and the channel's head id."""
    found, head = _run(redis, retry, SEEK, channel, [int(at_ms)], "seek")
    found = int(found)
    return (None if found < 0 else found), int(head)


def prune_preview(redis: Any, retry: RetryPolicy, channel: str, args: list[Any]) -> PrunePreview:
    """Run the preview script with prune's arguments (see Admin.prune)."""
    reply = _run(redis, retry, PRUNE_PREVIEW, channel, args, "prune preview")
    upto = int(reply[1])
    unread = {text(reply[i]): int(reply[i + 1]) for i in range(2, len(reply), 2)}
    return PrunePreview(int(reply[0]), None if upto < 0 else upto, unread)
