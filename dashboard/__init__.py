"""rivulet's web dashboard: a Flask app over :class:`rivulet.Admin`.

``create_app()`` reads its settings from defaults, then ``RIVULET_*`` environment
variables (``RIVULET_REDIS_URL``, ``RIVULET_DASHBOARD_TOKEN`` ...), then
``test_config``. ``rivulet dashboard`` (:mod:`dashboard.cli`) builds one and serves it.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, Response

import rivulet
from rivulet.urls import redis_url_from_env

from . import (
    api,
    backend,
    channel,
    client,
    clients,
    errors,
    formatting,
    health,
    listing,
    metrics,
    outcomes,
    overview,
    security,
    sparkline,
    status,
    wrapping,
)
from .forms import DashboardRequest
from .rawpath import RawPathMiddleware, SegmentConverter

#: The htmx build vendored in static/ (npm package htmx.org, licence beside it).
HTMX_VERSION = "2.0.11"
MIN_REFRESH_SECONDS = 1.0


def asset_dirs() -> tuple[Path, Path]:
    """templates/ and static/: inside the package when installed, else the repo's top level."""
    here = Path(__file__).resolve().parent
    for base in (here, here.parent):
        templates, static = base / "templates", base / "static"
        if (templates / "base.html").is_file() and static.is_dir():
            return templates, static
    raise RuntimeError(f"dashboard templates not found beside {here}")


class DashboardFlask(Flask):
    """Flask, sending static files as bytes rather than open files, and
    refusing form bodies that are not UTF-8 (:mod:`dashboard.forms`).

    A server can skip closing a response's file when a browser resets the
    connection mid-request; the files here are small, so reading them whole
    leaves nothing open.
    """

    request_class = DashboardRequest

    def send_static_file(self, filename: str) -> Response:
        response = super().send_static_file(filename)
        if response.direct_passthrough:
            wrapper = response.response
            response.direct_passthrough = False
            try:
                response.set_data(b"".join(
                    c.encode() if isinstance(c, str) else c for c in wrapper))
            finally:
                getattr(wrapper, "close", lambda: None)()
        return response


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the dashboard app; ``test_config`` overrides every other setting."""
    templates, static = asset_dirs()
    app = DashboardFlask(__name__, template_folder=str(templates), static_folder=str(static))
    app.config.from_mapping(
        SECRET_KEY=secrets.token_hex(32),
        REDIS_URL=None,
        DASHBOARD_TOKEN=None,
        AUTH=True,
        READ_ONLY=False,
        REFRESH_SECONDS=2.0,
        PAGE_SIZE=50,
        MESSAGES_PAGE_SIZE=25,
        ADMIN=None,
        # How long a page keeps retrying an unreachable Redis before its 503.
        REDIS_RETRY_SECONDS=2.0,
        # The Admin's status judgement (SPEC 8): seconds of history a status is
        # judged over, and idle seconds after which a subscriber is "stopped".
        STATUS_WINDOW=120.0,
        STOP_AFTER=60.0,
        # A posted message may be up to 1 MiB of UTF-8, percent-encoded in a form.
        MAX_CONTENT_LENGTH=4 << 20,
        SESSION_COOKIE_NAME="rivulet_dashboard",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # The token lives as long as the session: live pages are never reloaded.
        WTF_CSRF_TIME_LIMIT=None,
        WTF_CSRF_HEADERS=["X-CSRFToken"],
        # We send no Referer (Referrer-Policy), so the HTTPS referrer check cannot work.
        WTF_CSRF_SSL_STRICT=False,
    )
    app.config.from_prefixed_env("RIVULET")
    if test_config is not None:
        app.config.from_mapping(test_config)
    _settle_config(app)

    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.url_map.converters["seg"] = SegmentConverter
    # A channel id may begin with "/": never merge "//" into "/".
    app.url_map.merge_slashes = False
    app.wsgi_app = RawPathMiddleware(app.wsgi_app)  # type: ignore[method-assign]

    backend.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    formatting.init_app(app)
    status.init_app(app)
    sparkline.init_app(app)
    wrapping.init_app(app)
    listing.init_app(app)
    outcomes.init_app(app)
    for module in (overview, channel, clients, client, api, metrics, health):
        app.register_blueprint(module.bp)

    @app.context_processor
    def globals_for_templates() -> dict[str, Any]:
        return {
            "read_only": bool(app.config["READ_ONLY"]),
            "refresh_seconds": app.config["REFRESH_SECONDS"],
            "redis_url": backend.backend().masked_url,
            "version": rivulet.__version__,
            "htmx_js": f"htmx-{HTMX_VERSION}.min.js",
        }

    return app


def _settle_config(app: Flask) -> None:
    """Fill in what the settings leave open and normalise their types."""
    config = app.config
    if not config.get("REDIS_URL"):
        config["REDIS_URL"] = redis_url_from_env()
    config["REDIS_URL"] = str(config["REDIS_URL"])
    config["AUTH"] = bool(config["AUTH"])
    config["READ_ONLY"] = bool(config["READ_ONLY"])
    token = config.get("DASHBOARD_TOKEN")
    if config["AUTH"]:
        # Environment values arrive JSON-decoded: a token "123" must stay text.
        config["DASHBOARD_TOKEN"] = str(token) if token else secrets.token_urlsafe(32)
    config["REFRESH_SECONDS"] = max(MIN_REFRESH_SECONDS, float(config["REFRESH_SECONDS"]))
    for key in ("STATUS_WINDOW", "STOP_AFTER"):
        # Admin rejects a negative or non-finite number with a clear message.
        config[key] = float(config[key])
    config["PAGE_SIZE"] = max(1, int(config["PAGE_SIZE"]))
    config["MESSAGES_PAGE_SIZE"] = max(1, int(config["MESSAGES_PAGE_SIZE"]))
