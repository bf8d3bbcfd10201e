"""``/healthz``: 200 when Redis answers one PING within a second, else 503. No token."""

from __future__ import annotations

from flask import Blueprint, json
from werkzeug.wrappers import Response

from rivulet.exceptions import RivuletError

from .backend import backend

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    found = backend()
    try:
        found.health.ping()
    except RivuletError as error:
        body = {"status": "unavailable", "redis": found.masked_url, "error": str(error)}
        return Response(json.dumps(body), 503, mimetype="application/json")
    return Response(json.dumps({"status": "ok"}), 200, mimetype="application/json")
