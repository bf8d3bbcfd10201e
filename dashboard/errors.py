"""Every error becomes a page (or JSON for /api/): no traceback reaches a user.

A Redis outage is a 503 that names the URL with its password masked; the next
request tries Redis again, so the dashboard recovers by itself.
"""

from __future__ import annotations

import json
import logging

from flask import Flask, Response, render_template, request
from flask_wtf.csrf import CSRFError  # type: ignore[import-untyped]
from werkzeug.exceptions import HTTPException

from rivulet.exceptions import BackendError, ChannelNotFoundError, InvalidNameError
from rivulet.exceptions import ConnectionError as RedisDown
from rivulet.exceptions import TimeoutError as RedisTimeout

from .backend import backend

log = logging.getLogger("rivulet.dashboard")


def init_app(app: Flask) -> None:
    app.register_error_handler(RedisDown, redis_unavailable)
    app.register_error_handler(BackendError, redis_unavailable)
    app.register_error_handler(ChannelNotFoundError, channel_not_found)
    app.register_error_handler(InvalidNameError, invalid_name)
    app.register_error_handler(CSRFError, csrf_failed)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(Exception, unexpected)


def error_response(status: int, title: str, detail: str) -> Response:
    """The same error as HTML, JSON (under /api/) or plain text (/metrics)."""
    if request.path.startswith("/api/"):
        body = json.dumps({"error": title, "detail": detail})
        return Response(body, status, mimetype="application/json")
    if request.endpoint in ("metrics.metrics", "health.healthz"):
        return Response(f"{title}: {detail}\n", status, mimetype="text/plain")
    page = render_template("error.html", status=status, title=title, detail=detail)
    return Response(page, status)


def redis_unavailable(error: Exception) -> Response:
    url = backend().masked_url
    if not isinstance(error, (RedisDown, RedisTimeout)):
        # Redis answered, with an error: data it cannot serve (a key of the
        # wrong type, written around the library). Retrying will not help.
        log.warning("Redis refused a request at %s: %s", url, error)
        return error_response(500, "Redis refused the request", f"{url}: {error}")
    log.warning("Redis is unreachable at %s: %s", url, error)
    response = error_response(503, "Redis is unreachable", f"{url}: {error}")
    response.headers["Retry-After"] = "2"
    return response


def channel_not_found(error: ChannelNotFoundError) -> Response:
    return error_response(404, "No such channel", f"There is no channel {error.channel!r}.")


def invalid_name(error: InvalidNameError) -> Response:
    return error_response(400, "Invalid name", str(error))


def csrf_failed(error: CSRFError) -> Response:
    detail = f"{error.description} Reload the page and try again."
    return error_response(400, "Form expired or forged", detail)


def http_error(error: HTTPException) -> Response:
    status = error.code or 500
    response = error_response(status, error.name, error.description or "")
    if status == 405 and error.get_response().headers.get("Allow"):
        response.headers["Allow"] = error.get_response().headers["Allow"]
    return response


def unexpected(error: Exception) -> Response:
    log.exception("unhandled error serving %s %s", request.method, request.path)
    return error_response(500, "Internal error", "The dashboard hit a bug; see its log.")
