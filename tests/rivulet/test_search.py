"""Admin.search, seek, set_index_at and prune_preview (rivulet/search.py), on
fakeredis, a real redis-server and a one-node Cluster."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rivulet import Admin, ChannelNotFoundError
from rivulet.search import parse_time_ms

CHANNEL = "find/me #1 100%"
T0 = 1_796_000_000_000


def plant(backend: Any, channel: str, rows: list[tuple[int, int, str, str]]) -> None:
    """Store messages as the write script packs them, at chosen times."""
    members = {
        json.dumps({"id": i, "ts": ts, "src": src, "data": data}, ensure_ascii=False): i
        for i, ts, src, data in rows
    }
    backend.zadd(f"rvl:msg:{{{channel}}}", members)
    backend.set(f"rvl:id:{{{channel}}}", max(i for i, *_ in rows))


@pytest.fixture
def stored(backend: Any) -> None:
    # Two readers at 0: moving one never lets a consumed-prune remove messages.
    backend.zadd(f"rvl:channel:{{{CHANNEL}}}", {"holder": 0, "keeper": 0})
    plant(backend, CHANNEL, [
        (1, T0, "billing", "invoice 7 paid"),
        (2, T0 + 1000, "shipping", "parcel \"7\" sent"),
        (3, T0 + 2000, "ops", "été Ünïcode ✓"),
        (4, T0 + 3000, "Billing", "nothing here"),
        (5, T0 + 4000, "ops", "INVOICE 8 due"),
    ])


def ids(rows: list[Any]) -> list[int]:
    return [m["id"] for m in rows]


def test_search_finds_data_or_src_newest_first(admin: Admin, stored: None) -> None:
    assert ids(admin.search(CHANNEL, "invoice").messages) == [5, 1]
    assert ids(admin.search(CHANNEL, "billing").messages) == [4, 1]  # src, either case
    assert ids(admin.search(CHANNEL, '"7"').messages) == [2]  # data as stored, unescaped
    assert ids(admin.search(CHANNEL, "Ünïcode").messages) == [3]
    found = admin.search(CHANNEL, "absent")
    assert found.messages == [] and found.resume is None and found.scanned == 5


def test_search_pages_with_resume(admin: Admin, stored: None) -> None:
    first = admin.search(CHANNEL, "i", limit=2)
    assert ids(first.messages) == [5, 4] and first.resume == 4
    second = admin.search(CHANNEL, "i", before_id=first.resume, limit=2)
    assert ids(second.messages) == [2, 1] and second.resume is None


def test_search_work_is_bounded(admin: Admin, stored: None, monkeypatch: Any) -> None:
    from rivulet import search

    monkeypatch.setattr(search, "SCAN_BUDGET", 2)
    page = admin.search(CHANNEL, "invoice")
    assert page.scanned == 2 and ids(page.messages) == [5] and page.resume == 4


def test_search_refuses_empty_text_and_unknown_channels(admin: Admin, stored: None) -> None:
    with pytest.raises(ValueError):
        admin.search(CHANNEL, "")
    with pytest.raises(ChannelNotFoundError):
        admin.search("nope", "x")


def test_seek_finds_the_first_message_at_or_after_a_time(admin: Admin, stored: None) -> None:
    assert admin.seek(CHANNEL, T0 - 5) == 1
    assert admin.seek(CHANNEL, T0 + 1000) == 2
    assert admin.seek(CHANNEL, T0 + 1001) == 3
    assert admin.seek(CHANNEL, T0 + 4001) is None
    iso = "2026-12-01T00:00:00Z"
    assert admin.seek(CHANNEL, iso) == (1 if parse_time_ms(iso) <= T0 else None)


def test_set_index_at_moves_to_the_last_message_before_the_time(
    admin: Admin, stored: None
) -> None:
    assert admin.set_index_at(CHANNEL, "holder", T0 + 2000) == 2
    assert admin.set_index_at(CHANNEL, "holder", T0 + 2500) == 3
    assert admin.set_index_at(CHANNEL, "holder", T0 + 9000) == 5  # all older: the head
    assert admin.set_index_at(CHANNEL, "holder", 0) == 0


def test_prune_preview_counts_and_names_who_loses_unread(
    admin: Admin, stored: None, backend: Any
) -> None:
    backend.zadd(f"rvl:channel:{{{CHANNEL}}}", {"holder": 1, "fast": 4})
    preview = admin.prune_preview(CHANNEL, upto_id=3)
    assert (preview.count, preview.upto_id) == (3, 3)
    assert preview.unread == {"holder": 2, "keeper": 3}
    # Only who would lose something is listed: "fast" has read past id 4.
    assert admin.prune_preview(CHANNEL, keep_last=1).unread == {"holder": 3, "keeper": 4}
    nothing = admin.prune_preview(CHANNEL, upto_id=0)
    assert (nothing.count, nothing.upto_id) == (0, None)
    assert admin.count(CHANNEL) == 5  # a preview removes nothing
    with pytest.raises(ValueError):
        admin.prune_preview(CHANNEL)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1796000000000", 1_796_000_000_000),
        ("2026-12-01T08:00:00Z", 1_796_112_000_000),
        ("2026-12-01T08:00:00", 1_796_112_000_000),
        ("2026-12-01 09:00:00+01:00", 1_796_112_000_000),
        ("2026-12-01", 1_796_083_200_000),
    ],
)
def test_parse_time_ms(raw: str, expected: int) -> None:
    assert parse_time_ms(raw) == expected


@pytest.mark.parametrize("raw", ["soon", "", "1969-01-01T00:00:00Z", "12:00",
                                 "253402300800000", "9" * 40])
def test_parse_time_ms_refuses(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_time_ms(raw)
