"""``/healthz``: 200 when Redis (on a cluster: every primary) answers a PING
within a second, else 503; and ``/favicon.ico``. Neither needs a token."""

from __future__ import annotations

import time
from typing import Any

import redis
from flask import Blueprint, json, redirect, url_for
from redis.cluster import RedisCluster
from werkzeug.wrappers import Response

from rivulet import Admin
from rivulet.deadline import within
from rivulet.exceptions import RivuletError, translate

from .backend import HEALTH_BUDGET_S, backend

bp = Blueprint("health", __name__)


@bp.get("/favicon.ico")
def favicon() -> Response:
    """Browsers ask for this by habit; the icon is the static SVG."""
    return redirect(url_for("static", filename="favicon.svg"), code=301)


@bp.get("/healthz")
def healthz() -> Response:
    # Public: the body names no URL (a monitor knows what it probes), and the
    # error is rivulet's own text, which quotes no credentials.
    try:
        # One attempt, but connect, handshake and PING share one deadline.
        with within(time.monotonic() + HEALTH_BUDGET_S):
            _ping(backend().health)
    except RivuletError as error:
        body = {"status": "unavailable", "error": str(error)}
        return Response(json.dumps(body), 503, mimetype="application/json")
    return Response(json.dumps({"status": "ok"}), 200, mimetype="application/json")


def _ping(health: Admin) -> None:
    """One PING; on a cluster one to each primary, as a page may need any of
    them (redis-py's default would also ping replicas, whose loss costs no
    page an answer)."""
    client: Any = health.redis
    if not isinstance(client, RedisCluster):
        health.ping()
        return
    try:
        client.ping(target_nodes=RedisCluster.PRIMARIES)
    except (redis.RedisError, OSError) as error:
        raise translate(error) from error
