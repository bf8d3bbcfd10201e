"""The full-scan cache at scale: a scan slower than the refresh interval is still reused."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from flask.testing import FlaskClient

import rivulet
from dashboard import listing


def test_a_scan_slower_than_the_refresh_interval_is_reused(
    client: FlaskClient, admin: rivulet.Admin, make_client: Callable[..., rivulet.Client],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_client("r", ["a", "b"]).write("a", ["x"])
    clock = [1000.0]
    scans = []
    real = admin.channel_page

    def slow_page(*args: Any, **kwargs: Any) -> Any:
        # A full scan that takes 5 s (at 10,000 channels it can): longer
        # than the 2 s refresh interval.
        if kwargs.get("limit", "x") is None:
            scans.append(clock[0])
            clock[0] += 5.0
        return real(*args, **kwargs)

    # The listing's clock only (not the time module everything else uses).
    monkeypatch.setattr(listing, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    monkeypatch.setattr(admin, "channel_page", slow_page)
    assert client.get("/?sort=lag").status_code == 200
    clock[0] += 1.0  # within the interval of the scan's end
    assert client.get("/?sort=lag").status_code == 200
    assert len(scans) == 1
    clock[0] += 2.0  # past it: scan again
    assert client.get("/?sort=lag").status_code == 200
    assert len(scans) == 2
