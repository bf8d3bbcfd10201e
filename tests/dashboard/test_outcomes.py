"""A form's outcome is shown where the person is: beside the form it concerns,
as the target of the redirect's #anchor, focusable (tabindex=-1) so the
browser's fragment navigation moves focus onto it. Flashes about no form on
the page (a channel deleted, the last subscriber gone) stay at the top."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

import rivulet

from .conftest import csrf_token, seg

NAME = "orders/eu #1 100%"
PAGE = f"/channels/{seg(NAME)}"


@pytest.fixture
def store(fake_redis: Any) -> Any:
    """Markup does not depend on the backend (the forms' effects are tested in test_forms.py)."""
    return fake_redis


@pytest.fixture
def channel(make_client: Callable[..., rivulet.Client]) -> rivulet.Client:
    writer = make_client("writer", NAME)
    make_client("reader", NAME)
    writer.write(NAME, ["a", "b", "c"])
    return writer


def post(client: FlaskClient, page: str, route: str, **fields: str) -> tuple[str, str]:
    """Submit a form of ``page``; return the redirect's #anchor and the page it lands on."""
    token = csrf_token(client, page)
    response = client.post(f"{page}/{route}", data=dict(fields, csrf_token=token))
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    location = response.headers["Location"]
    assert "#" in location, location
    path, anchor = location.split("#", 1)
    assert path == page
    return anchor, client.get(location).get_data(as_text=True)


def form_html(page: str, form_id: str) -> str:
    found = re.search(rf'<form [^>]*id="{form_id}".*?</form>', page, re.S)
    assert found, f"no form {form_id}"
    return found.group(0)


def assert_outcome_beside(page: str, form_id: str, kind: str, text: str) -> None:
    """The outcome is the anchor's target, inside its form, focusable, with its
    role; and not repeated at the top of the page."""
    form = form_html(page, form_id)
    role = "alert" if kind == "error" else "status"
    found = re.search(rf'<(p|div) ([^>]*id="{form_id}-outcome"[^>]*)>(.*?)</\1>', form, re.S)
    assert found, f"no outcome inside {form_id}: {form[:600]}"
    attrs, body = found.group(2), found.group(3)
    assert f'role="{role}"' in attrs and 'tabindex="-1"' in attrs, attrs
    assert f"flash-{kind}" in attrs, attrs
    assert text in body, body
    assert '<ul class="flashes"' not in page
    assert page.count(f'id="{form_id}-outcome"') == 1


CHANNEL_FORMS = [
    # (route, fields, the form, ok or error, a piece of the message)
    ("post", {"data": "hi", "src": "t"}, "post-form", "ok", "Posted message 4"),
    ("post", {"src": "t"}, "post-form", "error", "no data field"),
    ("prune", {}, "prune-form", "error", "prune needs at least one"),
    ("prune", {"upto_id": "0"}, "prune-form", "ok", "Nothing to prune"),
    ("prune/confirm", {"upto_id": "1"}, "prune-form", "ok", "Pruned 1 message"),
    ("prune/confirm", {}, "prune-form", "error", "lost its id"),
    ("retention", {"max_messages": "10", "max_age": ""}, "retention-form", "ok",
     "Retention set"),
    ("retention", {"max_messages": "many"}, "retention-form", "error", "Keep at most"),
    ("history", {"interval": "5", "keep": "60"}, "history-form", "ok", "a sample every 5 s"),
    ("history", {"interval": "5", "keep": "1"}, "history-form", "error",
     "must be at least one interval"),
    ("subscriber", {"client_id": "reader", "index": "1", "action": "move"},
     "subscriber-form", "ok", "Moved &#39;reader&#39; to index 1"),
    ("subscriber", {"client_id": "nobody", "index": "1", "action": "move"},
     "subscriber-form", "error", "nobody"),
    ("subscriber", {"client_id": "reader", "action": "remove"}, "subscriber-form", "ok",
     "Removed subscriber"),
    ("subscriber", {"client_id": "reader", "action": "jump"}, "subscriber-form", "error",
     "action must be"),
]


@pytest.mark.parametrize(("route", "fields", "form_id", "kind", "text"), CHANNEL_FORMS,
                         ids=[f"{c[0]}-{c[3]}-{i}" for i, c in enumerate(CHANNEL_FORMS)])
def test_a_channel_form_outcome_is_beside_its_form(
        client: FlaskClient, channel: rivulet.Client, route: str, fields: dict[str, str],
        form_id: str, kind: str, text: str) -> None:
    anchor, page = post(client, PAGE, route, **fields)
    assert anchor == f"{form_id}-outcome"
    assert_outcome_beside(page, form_id, kind, text)


def test_a_refused_delete_is_beside_its_form(client: FlaskClient,
                                            channel: rivulet.Client) -> None:
    token = csrf_token(client, PAGE)
    response = client.post(f"{PAGE}/delete", data={"confirm": "orders", "csrf_token": token})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    # Re-rendered, not redirected: the form's own action carries the anchor.
    assert f'action="{PAGE}/delete#delete-form-outcome"' in page
    assert_outcome_beside(page, "delete-form", "error", "type its name exactly")
    assert 'aria-describedby="delete-form-outcome"' in page


def test_the_outcome_shows_once(client: FlaskClient, channel: rivulet.Client) -> None:
    post(client, PAGE, "post", data="x")
    again = client.get(PAGE).get_data(as_text=True)
    assert "-outcome" not in again.replace("delete-form-outcome", "")


def test_a_flash_about_no_form_on_the_page_stays_at_the_top(
        client: FlaskClient, make_client: Callable[..., rivulet.Client]) -> None:
    make_client("only", "solo").write("solo", ["x"])
    token = csrf_token(client, "/channels/solo")
    response = client.post("/channels/solo/subscriber", data={
        "client_id": "only", "action": "remove", "confirm": "solo", "csrf_token": token})
    # To the top of the other page, where the flash is: focusable, as an outcome.
    assert response.headers["Location"] == "/#flashes"
    page = client.get("/").get_data(as_text=True)
    top = re.search(r'<ul class="flashes" id="flashes" tabindex="-1">(.*?)</ul>', page, re.S)
    assert top and "is gone" in top.group(1)
    assert 'role="status"' in top.group(1)


CLIENT = "worker <1>"
CLIENT_PAGE = f"/clients/{seg(CLIENT)}"

CLIENT_FORMS = [
    ("move", {"channel": NAME, "index": "earliest"}, "move-form", "ok", "to index 0"),
    ("move", {"channel": NAME, "index": "soon"}, "move-form", "error", "index must be"),
    ("remove", {"channel": "elsewhere"}, "remove-form", "error", "was not subscribed"),
    ("remove-all", {}, "remove-all-form", "error", "Type the client id to confirm"),
]


@pytest.mark.parametrize(("route", "fields", "form_id", "kind", "text"), CLIENT_FORMS,
                         ids=[f"{c[0]}-{c[3]}" for c in CLIENT_FORMS])
def test_a_client_form_outcome_is_beside_its_form(
        client: FlaskClient, make_client: Callable[..., rivulet.Client], route: str,
        fields: dict[str, str], form_id: str, kind: str, text: str) -> None:
    make_client(CLIENT, [NAME, "other"])
    make_client("someone", NAME).write(NAME, ["a"])
    make_client("x", "elsewhere")
    anchor, page = post(client, CLIENT_PAGE, route, **fields)
    assert anchor == f"{form_id}-outcome"
    assert_outcome_beside(page, form_id, kind, text)
