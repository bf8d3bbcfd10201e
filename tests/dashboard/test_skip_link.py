"""Every page opens with a "Skip to content" link, the first thing Tab
reaches, to the page's main content (focusable, so Tab continues from there)."""

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
#: What a keyboard can reach: links, form controls, anything with a tabindex.
FOCUSABLE = re.compile(r"<(a\s[^>]*href|button|input(?![^>]*type=\"hidden\")|select|textarea"
                       r"|[a-z]+\s[^>]*tabindex=\"0\")[^>]*>")


@pytest.fixture
def store(fake_redis: Any) -> Any:
    return fake_redis


def assert_skip_link_first(page: str) -> None:
    body = page.split("<body", 1)[1]
    first = FOCUSABLE.search(body)
    assert first, "nothing focusable"
    assert first.group(0) == '<a class="skip-link" href="#content">', first.group(0)
    assert body.count("Skip to content") == 1
    assert re.search(r'<main id="content" tabindex="-1">', body)


def test_every_page_kind_opens_with_the_skip_link(
        client: FlaskClient, anon: FlaskClient,
        make_client: Callable[..., rivulet.Client]) -> None:
    writer = make_client("writer", NAME)
    writer.write(NAME, ["a", "b"])
    make_client("only", "solo")
    pages = {path: client.get(path) for path in (
        "/", "/clients", f"/clients/{seg('writer')}", PAGE, f"{PAGE}/messages/1",
        f"{PAGE}/messages/99", f"/channels/{seg('nowhere')}")}
    token = csrf_token(client, PAGE)
    pages["prune preview"] = client.post(f"{PAGE}/prune",
                                         data={"keep_last": "1", "csrf_token": token})
    pages["remove last"] = client.post("/channels/solo/subscriber", data={
        "client_id": "only", "action": "remove", "csrf_token": token})
    pages["login"] = anon.get("/")
    kinds = set()
    for where, response in pages.items():
        assert response.status_code in (200, 401, 404), where
        page = response.get_data(as_text=True)
        kinds.add(re.search(r"<title>(.*?)</title>", page, re.S).group(1))  # type: ignore[union-attr]
        assert_skip_link_first(page)
    assert len(kinds) == len(pages)  # each a different page
