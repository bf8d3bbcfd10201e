"""Identical requests that arrive together share one reading of Redis.

Fifty concurrent scrapes of /metrics used to make fifty full readings of every
channel; now the ones that arrive while a reading runs wait for its result.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

import rivulet
from dashboard import api, metrics
from dashboard.shared import SingleFlight

from .conftest import bearer

WAITERS = 4


class GatedAdmin:
    """Wraps an Admin: ``channels``/``channel_page`` block until ``gate`` opens,
    and count how often they ran."""

    def __init__(self, inner: rivulet.Admin) -> None:
        self.inner = inner
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.calls = 0

    def _gated(self, name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            self.entered.set()
            assert self.gate.wait(10), "gate never opened"
            return getattr(self.inner, name)(*args, **kwargs)
        return call

    def __getattr__(self, name: str) -> Any:
        if name in ("channels", "channel_page", "lag_scan"):
            return self._gated(name)
        return getattr(self.inner, name)


@pytest.mark.parametrize("path", ["/metrics", "/api/channels"])
def test_concurrent_identical_requests_share_one_reading(
    make_app: Callable[..., Flask], admin: rivulet.Admin,
    make_client: Callable[..., rivulet.Client], path: str,
) -> None:
    make_client("reader", ["one", "two"])
    gated = GatedAdmin(admin)
    app = make_app(ADMIN=gated)
    bodies: list[bytes] = []

    def fetch() -> None:
        response = app.test_client().get(path, headers=bearer())
        assert response.status_code == 200
        bodies.append(response.get_data())

    leader = threading.Thread(target=fetch)
    leader.start()
    assert gated.entered.wait(10)
    # The first request is reading Redis; these arrive meanwhile.
    waiting = [threading.Thread(target=fetch) for _ in range(WAITERS)]
    for thread in waiting:
        thread.start()
    flight, key = {
        "/metrics": (app.extensions[metrics.FLIGHT_KEY], "metrics"),
        "/api/channels": (app.extensions[api.FLIGHT_KEY], ("", 0, None)),
    }[path]
    assert flight.wait_for_waiters(key, WAITERS, timeout=10)
    gated.gate.set()
    for thread in [leader, *waiting]:
        thread.join(10)
    assert len(bodies) == WAITERS + 1 and len(set(bodies)) == 1
    assert gated.calls == 1
    # A request after the reading finished reads afresh.
    fetch()
    assert gated.calls == 2


def test_an_error_reaches_every_caller_and_is_not_kept() -> None:
    flight: SingleFlight[int] = SingleFlight()
    with pytest.raises(ZeroDivisionError):
        flight.run("k", lambda: 1 // 0)
    assert flight.run("k", lambda: 7) == 7
