"""A long form field still shows its error: flashes quote only a short prefix.

Flashes travel in the session cookie; browsers drop a cookie past 4 KB without
a word, so an error repeating a 5,000-character field would never be seen.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

import rivulet

from .conftest import csrf_token

NAME = "long fields"
_noise = random.Random(7)


def noise(alphabet: str = string.ascii_letters + string.digits, n: int = 5000) -> str:
    """Text that does not compress (the session cookie is zlib-compressed)."""
    return "".join(_noise.choice(alphabet) for _ in range(n))


#: What a browser keeps of one cookie (name, value and attributes together).
COOKIE_LIMIT = 4096

#: (form, fields) with one field far too long for the form to accept.
CASES = [
    ("post", {"data": "x", "src": noise()}),
    ("post", {"data": "x", "src": "{" + noise(n=199)}),
    ("prune", {"upto_id": noise(string.digits, 8000)}),
    ("prune", {"upto_id": noise()}),
    ("prune", {"older_than": noise()}),
    ("prune", {"older_than": "-" + noise(string.digits, 8000)}),
    ("prune", {"keep_last": noise()}),
    ("subscriber", {"action": "move", "client_id": "reader", "index": noise()}),
    ("subscriber", {"action": "move", "client_id": noise(), "index": "earliest"}),
    ("subscriber", {"action": "move", "client_id": "\x00" + noise(n=199), "index": "1"}),
    ("subscriber", {"action": "remove", "client_id": noise(n=200)}),
    ("subscriber", {"action": noise(), "client_id": "reader"}),
    ("delete", {"confirm": noise()}),
]
CASE_IDS = [f"{route}-{'-'.join(fields)}-{i}" for i, (route, fields) in enumerate(CASES)]


@pytest.fixture
def reader(make_client: Callable[..., rivulet.Client]) -> rivulet.Client:
    client = make_client("reader", NAME)
    client.write(NAME, ["m1", "m2"])
    return client


@pytest.mark.parametrize(("route", "fields"), CASES, ids=CASE_IDS)
def test_the_error_for_a_long_field_fits_in_the_cookie_and_shows(
    client: FlaskClient, reader: rivulet.Client, route: str, fields: dict[str, str]
) -> None:
    page = "/channels/long%20fields"
    token = csrf_token(client, page)
    response = client.post(f"{page}/{route}", data=dict(fields, csrf_token=token))
    if route == "delete":
        # A failed delete re-renders the form with the typed name kept: no cookie.
        assert response.status_code == 200
        assert "type its name exactly" in response.get_data(as_text=True)
        return
    assert response.status_code == 303
    cookies = response.headers.getlist("Set-Cookie")
    assert cookies, "the flash must be stored"
    assert all(len(cookie) < COOKIE_LIMIT for cookie in cookies), [len(c) for c in cookies]
    landed = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'class="flash flash-error' in landed
    # The error quotes at most a short prefix of each field.
    for value in fields.values():
        assert len(value) < 100 or value[45:90] not in landed


def test_short_values_are_quoted_whole(client: FlaskClient, reader: rivulet.Client) -> None:
    page = "/channels/long%20fields"
    token = csrf_token(client, page)
    response = client.post(f"{page}/prune", data={"upto_id": "abc", "csrf_token": token})
    landed = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "“Up to and including id” must be a whole number, not &#39;abc&#39;" in landed
    response = client.post(f"{page}/prune", data={"upto_id": "b" * 41, "csrf_token": token})
    landed = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"not &#39;{'b' * 40}&#39;…" in landed


def test_a_long_query_argument_is_quoted_short(client: FlaskClient, reader: rivulet.Client) -> None:
    response = client.get("/channels/long%20fields", query_string={"before": "w" * 5000})
    assert response.status_code == 400
    assert "w" * 41 not in response.get_data(as_text=True)
