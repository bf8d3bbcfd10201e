"""Who may use the dashboard, and what a response tells the browser to allow.

The checks run before every request, in this order: the token (session cookie
from ``?token=``, or ``Authorization: Bearer``), the read-only switch (403
before anything else looks at the body), then CSRF for cookie sessions.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
from urllib.parse import urlencode

from flask import Flask, Response, current_app, g, redirect, render_template, request, session
from flask_wtf.csrf import CSRFProtect  # type: ignore[import-untyped]
from werkzeug.wrappers import Response as BaseResponse

from . import htmx
from .rawpath import encoded_path

SAFE_METHODS = frozenset({"GET", "HEAD"})
#: Endpoints anyone may reach: liveness and the files a login page needs.
PUBLIC_ENDPOINTS = frozenset({"static", "health.healthz", "health.favicon"})
SESSION_KEY = "auth"

CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)

csrf = CSRFProtect()


def init_app(app: Flask) -> None:
    # CSRF is checked by our own hook, after auth and read-only, and skipped for Bearer.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    csrf.init_app(app)
    app.before_request(check_host)
    app.before_request(check_token)
    app.before_request(check_read_only)
    app.before_request(check_csrf)
    app.after_request(add_security_headers)


def token_fingerprint(token: str) -> str:
    """What the session stores: proof of the token, not the token itself.

    Keyed with the app's secret, so a cookie tells nothing about a weak token.
    """
    key = str(current_app.secret_key).encode()
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def _matches(given: str, token: str) -> bool:
    return hmac.compare_digest(given.encode(), token.encode())


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip()


def _url_without_token() -> str:
    """The URL of this request as the client wrote it, minus ``token=``."""
    args = [(k, v) for k, v in request.args.items(multi=True) if k != "token"]
    path = request.script_root + encoded_path(request.environ)
    return f"{path}?{urlencode(args)}" if args else path


def loopback_host(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ``[::1]``, with or without a port."""
    if host.startswith("["):
        name = host[1:].partition("]")[0]  # [::1]:8379
    else:
        name = host.partition(":")[0]  # localhost:8379, 127.0.0.1:8379
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_host() -> Response | None:
    """Without a token, answer only requests addressed to a loopback name.

    Otherwise any web page could reach the dashboard by pointing its own host
    name at 127.0.0.1 (DNS rebinding), and then read and post like a local user.
    """
    if current_auth() or loopback_host(request.host):
        return None
    page = render_template(
        "error.html",
        status=403,
        title="Host not allowed",
        detail="Without a token this dashboard only answers to localhost, 127.0.0.1 or [::1].",
    )
    return Response(page, 403)


def check_token() -> BaseResponse | None:
    """Let a request through if it carries the token; log a browser in via ``?token=``."""
    g.bearer = False
    if not current_auth() or request.endpoint in PUBLIC_ENDPOINTS:
        return None
    token = current_token()
    bearer = _bearer()
    if bearer is not None:
        if _matches(bearer, token):
            g.bearer = True
            return None
        return unauthorized("wrong bearer token")
    given = request.args.get("token")
    if given is not None and request.method in SAFE_METHODS:
        if not _matches(given, token):
            session.pop(SESSION_KEY, None)
            return unauthorized("wrong token")
        session.clear()
        session[SESSION_KEY] = token_fingerprint(token)
        session.permanent = True
        return redirect(_url_without_token(), code=303)
    proof = session.get(SESSION_KEY)
    if isinstance(proof, str) and hmac.compare_digest(proof, token_fingerprint(token)):
        return None
    return unauthorized(None)


def unauthorized(problem: str | None) -> Response:
    """401: a login page for browsers, JSON or text for scripts."""
    challenge = {"WWW-Authenticate": 'Bearer realm="rivulet dashboard"'}
    if request.path.startswith("/api/"):
        body = {"error": problem or "a token is required (Authorization: Bearer <token>)"}
        response = Response(
            json.dumps(body), status=401, mimetype="application/json", headers=challenge
        )
    elif request.endpoint == "metrics.metrics":
        response = Response(
            (problem or "a token is required") + "\n", 401, challenge, mimetype="text/plain"
        )
    else:
        html = render_template("login.html", problem=problem)
        response = Response(html, 401, challenge)
        if htmx.is_htmx(request):
            htmx.refresh_page(response)
    return response


def check_read_only() -> Response | None:
    """Read-only mode: refuse every non-GET request before CSRF or Redis see it."""
    if read_only() and request.method not in SAFE_METHODS:
        page = render_template(
            "error.html",
            status=403,
            title="Read-only dashboard",
            detail="This dashboard was started with --read-only; it changes nothing.",
        )
        return Response(page, 403)
    return None


def check_csrf() -> None:
    """Cookie sessions need the CSRF token on every state-changing request."""
    if request.method in SAFE_METHODS or g.get("bearer") or request.endpoint in PUBLIC_ENDPOINTS:
        return
    csrf.protect()


def add_security_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    # The first URL carries ?token=; never leak a URL to another site.
    response.headers["Referrer-Policy"] = "no-referrer"
    if request.endpoint != "static":
        response.headers["Cache-Control"] = "no-store"
    return response


def current_auth() -> bool:
    return bool(current_app.config["AUTH"])


def current_token() -> str:
    return str(current_app.config["DASHBOARD_TOKEN"])


def read_only() -> bool:
    return bool(current_app.config["READ_ONLY"])
