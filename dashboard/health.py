"""``/healthz``: 200 when Redis answers one PING within a second, else 503; and
``/favicon.ico``. Neither needs a token."""

from __future__ import annotations

from flask import Blueprint, json, redirect, url_for
from werkzeug.wrappers import Response

from rivulet.exceptions import RivuletError

from .backend import backend

bp = Blueprint("health", __name__)


@bp.get("/favicon.ico")
def favicon() -> Response:
    """Browsers ask for this by habit; the icon is the static SVG."""
    return redirect(url_for("static", filename="favicon.svg"), code=301)


@bp.get("/healthz")
def healthz() -> Response:
    found = backend()
    try:
        found.health.ping()
    except RivuletError as error:
        body = {"status": "unavailable", "redis": found.masked_url, "error": str(error)}
        return Response(json.dumps(body), 503, mimetype="application/json")
    return Response(json.dumps({"status": "ok"}), 200, mimetype="application/json")
