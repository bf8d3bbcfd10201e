"""The dashboard's one way to Redis: a shared :class:`rivulet.Admin`.

Views fetch it with :func:`admin`; it lives in ``app.extensions["rivulet"]``.
The dashboard gives up on Redis sooner than the library does, so a page
answers 503 within its budget instead of hanging on the default 8 s. The
budget bounds every socket operation too (rivulet.deadline), so a hung Redis
costs a page 2 s, not 2 s plus the socket timeout.
"""

from __future__ import annotations

import dataclasses
import sys

from flask import Flask, current_app

from rivulet import Admin, RetryPolicy
from rivulet.urls import cluster_url_for, mask_url, redis_from_url

#: How long one page keeps retrying an unreachable Redis before answering 503
#: (``REDIS_RETRY_SECONDS``); no socket operation outlasts it.
PAGE_RETRY = RetryPolicy(budget_s=2.0, base_delay_s=0.05, max_delay_s=0.5)
PAGE_CONNECT_TIMEOUT_S = 1.0
PAGE_SOCKET_TIMEOUT_S = 4.0
#: /healthz answers within 1 s: one PING, no retries, each socket operation
#: at most HEALTH_TIMEOUT_S and all of them together at most HEALTH_BUDGET_S.
HEALTH_TIMEOUT_S = 0.4
HEALTH_BUDGET_S = 0.8


@dataclasses.dataclass
class Backend:
    """What ``app.extensions["rivulet"]`` holds."""

    url: str
    admin: Admin
    health: Admin

    @property
    def masked_url(self) -> str:
        return mask_url(self.url)


def make_backend(url: str, retry_budget_s: float = PAGE_RETRY.budget_s,
                 window_s: float = 120.0, stop_after_s: float = 60.0) -> Backend:
    """Admins for pages (short retry budget) and for /healthz (no retries).

    A plain URL of a cluster node switches to cluster mode (said on stderr):
    through one node, channels on the other masters would answer MOVED.
    """
    found = cluster_url_for(url, timeout_s=PAGE_CONNECT_TIMEOUT_S)
    if found is not None:
        print(f"rivulet dashboard: {mask_url(url)} is a Redis Cluster node; "
              f"using cluster mode ({mask_url(found)})", file=sys.stderr)
        url = found
    page_redis = redis_from_url(
        url,
        socket_connect_timeout=PAGE_CONNECT_TIMEOUT_S,
        socket_timeout=PAGE_SOCKET_TIMEOUT_S,
    )
    health_redis = redis_from_url(
        url,
        socket_connect_timeout=HEALTH_TIMEOUT_S,
        socket_timeout=HEALTH_TIMEOUT_S,
    )
    return Backend(
        url=url,
        admin=Admin(page_redis, retry=dataclasses.replace(PAGE_RETRY, budget_s=retry_budget_s),
                    window=window_s, stop_after=stop_after_s),
        health=Admin(health_redis, retry=RetryPolicy.none()),
    )


def init_app(app: Flask) -> None:
    """Attach the Backend, unless a test already put an Admin in the config."""
    ready = app.config.get("ADMIN")
    url = str(app.config["REDIS_URL"])
    if ready is not None:
        app.extensions["rivulet"] = Backend(url=url, admin=ready, health=ready)
    else:
        app.extensions["rivulet"] = make_backend(
            url, float(app.config["REDIS_RETRY_SECONDS"]),
            window_s=float(app.config["STATUS_WINDOW"]),
            stop_after_s=float(app.config["STOP_AFTER"]))


def backend() -> Backend:
    found: Backend = current_app.extensions["rivulet"]
    return found


def admin() -> Admin:
    """The shared Admin of the current app."""
    return backend().admin


