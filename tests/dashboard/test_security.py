"""Token auth, CSRF, read-only mode and the headers every response carries."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

import rivulet

from .conftest import TOKEN, bearer, csrf_token, login, seg

PROTECTED_GETS = [
    "/",
    "/_channels",
    "/clients",
    "/_clients",
    "/api/channels",
    "/api/clients",
    f"/channels/{seg('c/1')}",
    f"/channels/{seg('c/1')}/_live",
    f"/channels/{seg('c/1')}/_messages",
    f"/api/channels/{seg('c/1')}",
    "/metrics",
]
ACTIONS = {
    "post": {"data": "hi"},
    "prune": {"consumed": "1"},
    "subscriber": {"client_id": "r", "index": "latest", "action": "move"},
    "delete": {"confirm": "c/1"},
}


def head_id(browser: FlaskClient) -> int:
    reply = browser.get(f"/api/channels/{seg('c/1')}", headers=bearer()).get_json()
    return int(reply["channel"]["head_id"])


@pytest.fixture
def channel(make_client: Callable[..., rivulet.Client]) -> rivulet.Client:
    reader = make_client("r", "c/1")
    reader.write("c/1", ["payload-alpha", "payload-beta"])
    return reader


@pytest.mark.parametrize("path", PROTECTED_GETS)
def test_every_route_needs_the_token(anon: FlaskClient, channel: Any, path: str) -> None:
    response = anon.get(path)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "payload-alpha" not in response.get_data(as_text=True)


@pytest.mark.parametrize("path", PROTECTED_GETS)
def test_bearer_token_works_everywhere(anon: FlaskClient, channel: Any, path: str) -> None:
    assert anon.get(path, headers=bearer()).status_code == 200
    assert anon.get(path, headers=bearer("wrong")).status_code == 401


def test_login_with_token_redirects_to_the_same_url_without_it(anon: FlaskClient) -> None:
    response = anon.get("/clients", query_string={"token": TOKEN, "page": "1"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/clients?page=1"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert TOKEN not in cookie
    assert anon.get("/clients?page=1").status_code == 200


def test_login_keeps_an_encoded_channel_path(anon: FlaskClient, channel: Any) -> None:
    path = f"/channels/{seg('c/1')}"
    response = anon.get(path, query_string={"token": TOKEN})
    assert response.headers["Location"] == path
    assert anon.get(response.headers["Location"]).status_code == 200


def test_wrong_token_logs_nobody_in(anon: FlaskClient) -> None:
    response = anon.get("/", query_string={"token": "nope"})
    assert response.status_code == 401
    assert "wrong token" in response.get_data(as_text=True).lower()
    assert anon.get("/").status_code == 401


def test_wrong_token_logs_a_browser_out(client: FlaskClient) -> None:
    assert client.get("/").status_code == 200
    assert client.get("/", query_string={"token": "nope"}).status_code == 401
    assert client.get("/").status_code == 401


def test_token_change_invalidates_sessions(make_app: Callable[..., Flask]) -> None:
    browser = login(make_app())
    cookie = browser.get_cookie("rivulet_dashboard")
    assert cookie is not None
    other = make_app(DASHBOARD_TOKEN="another token").test_client()
    other.set_cookie("rivulet_dashboard", cookie.value)
    assert other.get("/").status_code == 401


def test_htmx_request_without_session_reloads_to_the_login_page(anon: FlaskClient) -> None:
    response = anon.get("/_channels", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Refresh"] == "true"


def test_healthz_and_static_need_no_token(anon: FlaskClient) -> None:
    assert anon.get("/healthz").status_code == 200
    response = anon.get("/static/app.css")
    assert response.status_code == 200
    response.close()


def test_generated_token_when_none_configured(make_app: Callable[..., Flask]) -> None:
    app = make_app(DASHBOARD_TOKEN=None)
    token = app.config["DASHBOARD_TOKEN"]
    assert isinstance(token, str) and len(token) >= 32
    assert app.test_client().get("/", headers=bearer(token)).status_code == 200


def test_environment_token_is_read_and_kept_as_text(
    monkeypatch: pytest.MonkeyPatch, admin: rivulet.Admin
) -> None:
    from dashboard import create_app

    monkeypatch.setenv("RIVULET_DASHBOARD_TOKEN", "12345")
    app = create_app({"TESTING": True, "ADMIN": admin})
    assert app.config["DASHBOARD_TOKEN"] == "12345"
    assert app.test_client().get("/", headers=bearer("12345")).status_code == 200


def test_no_auth_opens_everything(make_app: Callable[..., Flask], channel: Any) -> None:
    browser = make_app(AUTH=False).test_client()
    assert browser.get("/").status_code == 200
    assert browser.get("/metrics").status_code == 200


# -- CSRF ------------------------------------------------------------------


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_forms_need_the_csrf_token(client: FlaskClient, channel: Any, action: str) -> None:
    url = f"/channels/{seg('c/1')}/{action}"
    assert client.post(url, data=ACTIONS[action]).status_code == 400
    bad = dict(ACTIONS[action], csrf_token="forged")
    assert client.post(url, data=bad).status_code == 400
    forged = {"X-CSRFToken": "forged"}
    assert client.post(url, data=ACTIONS[action], headers=forged).status_code == 400
    # Nothing changed.
    assert head_id(client) == 2


def test_csrf_failure_is_a_page_not_a_traceback(client: FlaskClient, channel: Any) -> None:
    response = client.post(f"/channels/{seg('c/1')}/post", data={"data": "x"})
    body = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Form expired or forged" in body and "Traceback" not in body


def test_csrf_token_in_field_or_header_is_accepted(client: FlaskClient, channel: Any) -> None:
    token = csrf_token(client, f"/channels/{seg('c/1')}")
    url = f"/channels/{seg('c/1')}/post"
    assert client.post(url, data={"data": "a", "csrf_token": token}).status_code == 303
    assert client.post(url, data={"data": "b"}, headers={"X-CSRFToken": token}).status_code == 303


def test_csrf_token_from_another_session_is_refused(
    app: Flask, client: FlaskClient, channel: Any
) -> None:
    token = csrf_token(client, f"/channels/{seg('c/1')}")
    other = login(app)
    response = other.post(f"/channels/{seg('c/1')}/post", data={"data": "x", "csrf_token": token})
    assert response.status_code == 400


def test_bearer_requests_are_exempt_from_csrf(anon: FlaskClient, channel: Any) -> None:
    response = anon.post(f"/channels/{seg('c/1')}/post", data={"data": "x"}, headers=bearer())
    assert response.status_code == 303


def test_get_never_changes_state(client: FlaskClient, channel: Any) -> None:
    for action, form in ACTIONS.items():
        response = client.get(f"/channels/{seg('c/1')}/{action}", query_string=form)
        assert response.status_code == 405
    assert head_id(client) == 2


# -- read-only ------------------------------------------------------------------


@pytest.fixture
def read_only(make_app: Callable[..., Flask]) -> FlaskClient:
    return login(make_app(READ_ONLY=True))


def test_read_only_renders_no_forms(read_only: FlaskClient, channel: Any) -> None:
    page = read_only.get(f"/channels/{seg('c/1')}").get_data(as_text=True)
    main = page.split("<main", 1)[1]
    # Only GET search forms (find messages): nothing that acts.
    assert re.findall(r"<form[^>]*>", main) == re.findall(r'<form[^>]*role="search"[^>]*>', main)
    assert 'method="post"' not in page
    assert "read-only" in page


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_read_only_refuses_writes_before_csrf(
    read_only: FlaskClient,
    anon: FlaskClient,
    make_app: Callable[..., Flask],
    channel: Any,
    action: str,
) -> None:
    url = f"/channels/{seg('c/1')}/{action}"
    # No CSRF token at all: 403, not 400 — the read-only check comes first.
    assert read_only.post(url, data=ACTIONS[action]).status_code == 403
    browser = make_app(READ_ONLY=True).test_client()
    assert browser.post(url, data=ACTIONS[action], headers=bearer()).status_code == 403
    assert browser.put(url, headers=bearer()).status_code == 403
    assert browser.delete(url, headers=bearer()).status_code == 403
    assert head_id(read_only) == 2


def test_read_only_refuses_before_touching_redis(make_app: Callable[..., Flask]) -> None:
    class Exploding:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"Redis touched: {name}")

    browser = make_app(READ_ONLY=True, ADMIN=Exploding()).test_client()
    response = browser.post(
        f"/channels/{seg('c/1')}/delete", data={"confirm": "c/1"}, headers=bearer()
    )
    assert response.status_code == 403


# -- headers ---------------------------------------------------------------------


def test_security_headers_on_pages_fragments_and_errors(client: FlaskClient, channel: Any) -> None:
    for path in (
        "/",
        "/_channels",
        f"/channels/{seg('c/1')}",
        "/api/channels",
        f"/channels/{seg('missing')}",
        "/healthz",
    ):
        response = client.get(path)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["Cache-Control"] == "no-store"


def test_pages_hold_no_inline_script_or_style(client: FlaskClient, channel: Any) -> None:
    import re

    for path in ("/", f"/channels/{seg('c/1')}", "/clients"):
        page = client.get(path).get_data(as_text=True)
        scripts = re.findall(r"<script\b[^>]*>", page)
        assert scripts and all("src=" in tag for tag in scripts), scripts
        assert "<style" not in page and " style=" not in page
        assert not re.search(r"\son[a-z]+=", page), "inline event handler"
        assert '"allowEval": false' in page and '"includeIndicatorStyles": false' in page


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("localhost", True),
        ("localhost:8379", True),
        ("127.0.0.1:1", True),
        ("127.9.9.9", True),
        ("[::1]:8379", True),
        ("evil.example:8379", False),
        ("10.0.0.2", False),
        ("localhost.evil.example", False),
    ],
)
def test_no_auth_answers_only_loopback_host_names(
    make_app: Callable[..., Flask], host: str, allowed: bool
) -> None:
    """DNS rebinding: a page on evil.example resolving to 127.0.0.1 gets nothing."""
    browser = make_app(AUTH=False).test_client()
    response = browser.get("/", headers={"Host": host})
    assert response.status_code == (200 if allowed else 403)
    # With a token the Host does not matter (a rebinding page has no token).
    authed = make_app().test_client()
    assert authed.get("/", headers={"Host": host, **bearer()}).status_code == 200
