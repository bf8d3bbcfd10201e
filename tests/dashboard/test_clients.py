"""The clients page's status column and the client page with its forms."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape

import rivulet
from rivulet import keys
from rivulet.models import now_ms

from .conftest import HOSTILE_NAMES, bearer, csrf_token, login, seg

BAD = {"stopped", "stalled", "beyond head"}
HOSTILE_CLIENT = "reader <b>&amp;</b> /x"


def client_rows(page: str) -> dict[str, str]:
    return {html.unescape(c): html.unescape(s) for c, s in
            re.findall(r'<tr data-client="([^"]*)" id="[^"]+" data-status="([^"]*)"', page)}


def channel_rows(page: str) -> dict[str, str]:
    return {html.unescape(c): html.unescape(s) for c, s in
            re.findall(r'<tr data-channel="([^"]*)" id="[^"]+" data-status="([^"]*)"', page)}


@pytest.fixture
def setup(make_client: Callable[..., rivulet.Client], store: Any) -> dict[str, rivulet.Client]:
    """``fast`` reads jobs and mail and is caught up; ``slow`` reads both too,
    and gone quiet in jobs; ``alone`` is the only reader of solo."""
    fast = make_client("fast", ["jobs", "mail"])
    slow = make_client("slow", ["jobs", "mail"])
    alone = make_client("alone", "solo")
    fast.write("jobs", ["j1", "j2", "j3"])
    fast.write("mail", ["m1"])
    fast.read()
    slow.read()  # reads everything: caught up in mail ...
    fast.write("jobs", ["j4", "j5"])
    fast.read()
    # ... then goes quiet with two messages left in jobs.
    store.zadd(keys.read_key("jobs"), {"slow": now_ms() - 600_000})
    store.hset(keys.history_settings_key("jobs"), "s:slow", now_ms() - 600_000)
    alone.write("solo", ["s1"])
    alone.read()
    return {"fast": fast, "slow": slow, "alone": alone}


class Form:
    """Posts a client page's forms with its CSRF token."""

    def __init__(self, browser: FlaskClient, client_id: str) -> None:
        self.browser = browser
        self.page = f"/clients/{seg(client_id)}"
        self.token = csrf_token(browser, self.page)

    def post(self, route: str, **fields: str) -> tuple[str, str]:
        """Submit; return (where the 303 went, without its #anchor, the page there)."""
        response = self.browser.post(f"{self.page}/{route}",
                                     data=dict(fields, csrf_token=self.token))
        assert response.status_code == 303, response.get_data(as_text=True)[:500]
        where = response.headers["Location"]
        return where.split("#")[0], self.browser.get(where).get_data(as_text=True)


def flashed(page: str, kind: str, text: str) -> bool:
    # At the top of the page, or beside its form (class "flash flash-ok outcome").
    return (re.search(f'class="flash flash-{kind}[ "]', page) is not None
            and str(escape(text)) in page)


def test_clients_page_shows_each_clients_worst_status(client: FlaskClient, setup: Any) -> None:
    page = client.get("/clients").get_data(as_text=True)
    found = client_rows(page)
    assert found["fast"] == "caught up" and found["alone"] == "caught up"
    assert found["slow"] in BAD
    row = re.search(r'<tr data-client="slow".*?</tr>', page, re.S)
    assert row and 'class="status status-bad' in row.group(0)
    # Per channel too: caught up in mail, the bad status in jobs.
    assert re.search(r'mail</a>\s*<span class="hint">index 1, lag <span class="lag">0</span>, '
                     r'<span class="status status-good status-caught-up">caught up', row.group(0))
    assert 'href="/clients/slow"' in page
    assert client.get("/_clients").get_data(as_text=True).count("<tr data-client=") == 3


def test_client_page_lists_index_lag_status_and_last_read(client: FlaskClient,
                                                          setup: Any) -> None:
    response = client.get("/clients/slow")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    found = channel_rows(page)
    assert found["mail"] == "caught up" and found["jobs"] in BAD
    jobs = re.search(r'<tr data-channel="jobs".*?</tr>', page, re.S)
    assert jobs
    cells = re.findall(r'<td class="num[^"]*">([^<]*)</td>', jobs.group(0))
    assert cells == ["3", "2"]  # index, lag
    assert re.search(r"<time title=\"[^\"]+\">10 min", jobs.group(0))
    assert 'id="client-status"' in page and 'href="/channels/jobs"' in page
    live = client.get("/clients/slow/_live").get_data(as_text=True)
    assert channel_rows(live) == found
    assert 'id="move-form"' in page and 'id="remove-all-form"' in page


def test_unknown_client_is_a_404(client: FlaskClient, setup: Any) -> None:
    response = client.get(f"/clients/{seg('nobody')}")
    assert response.status_code == 404
    assert "No channel has a subscriber" in response.get_data(as_text=True)
    assert "any more" in client.get("/clients/nobody/_live").get_data(as_text=True)


def test_a_client_named_like_a_fragment_has_its_page(
        client: FlaskClient, make_client: Callable[..., rivulet.Client]) -> None:
    make_client("_live", "jobs")
    listing = client.get("/clients").get_data(as_text=True)
    assert 'href="/clients/_live"' in listing
    page = client.get("/clients/_live").get_data(as_text=True)
    assert '<h1 class="channel-name">_live</h1>' in page


def test_hostile_client_id_and_channel_names(client: FlaskClient, hostile: rivulet.Client) -> None:
    listing = client.get("/clients").get_data(as_text=True)
    assert f'href="/clients/{escape(seg(HOSTILE_CLIENT))}"' in listing
    response = client.get(f"/clients/{seg(HOSTILE_CLIENT)}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<b>" not in page and "<script>alert(1)" not in page
    assert f'<h1 class="channel-name">{escape(HOSTILE_CLIENT)}</h1>' in page
    assert set(channel_rows(page)) == set(HOSTILE_NAMES)
    for name in HOSTILE_NAMES:
        assert f'<option value="{escape(name)}">' in page


def test_move_form(client: FlaskClient, admin: rivulet.Admin, setup: Any) -> None:
    where, page = Form(client, "slow").post("move", channel="jobs", index="latest")
    assert where == "/clients/slow"
    assert flashed(page, "ok", "Moved 'slow' in 'jobs' to index 5.")
    assert {s.client_id: s.index for s in admin.subscribers("jobs")}["slow"] == 5
    _, page = Form(client, "slow").post("move", channel="jobs", index="99")
    assert flashed(page, "error", "outside [0, 5]")
    _, page = Form(client, "slow").post("move", channel="jobs", index="soon")
    assert flashed(page, "error", "index must be a whole number, not 'soon'")
    _, page = Form(client, "slow").post("move", channel="nowhere", index="1")
    assert flashed(page, "error", "There is no channel 'nowhere'")


def test_remove_form_keeps_a_channel_others_read(client: FlaskClient, admin: rivulet.Admin,
                                                  setup: Any) -> None:
    where, page = Form(client, "slow").post("remove", channel="jobs")
    assert where == "/clients/slow"
    assert flashed(page, "ok", "Removed 'slow' from 'jobs'.")
    assert [s.client_id for s in admin.subscribers("jobs")] == ["fast"]


def test_removing_the_last_subscriber_asks_for_the_channel_name(
    client: FlaskClient, admin: rivulet.Admin, setup: Any
) -> None:
    page = client.get("/clients/alone").get_data(as_text=True)
    assert "(last subscriber)" in page and 'id="remove-confirm"' in page
    where, page = Form(client, "alone").post("remove", channel="solo", confirm="sol")
    assert where == "/clients/alone"
    assert flashed(page, "error", "is the last subscriber of 'solo'")
    assert admin.channel("solo").subscriber_count == 1  # nothing lost
    where, page = Form(client, "alone").post("remove", channel="solo", confirm="solo")
    # It read nothing else: back to the clients list.
    assert where == "/clients"
    assert flashed(page, "ok", "Removed 'alone' from 'solo'.")
    assert "solo" not in admin.channel_names()


def test_remove_everywhere(client: FlaskClient, admin: rivulet.Admin, setup: Any,
                           make_client: Callable[..., rivulet.Client]) -> None:
    # Where it is nobody's last reader, no confirmation is needed.
    where, page = Form(client, "fast").post("remove-all")
    assert where == "/clients"
    assert flashed(page, "ok", "Removed 'fast' from 2 channels.")
    assert [s.client_id for s in admin.subscribers("jobs")] == ["slow"]
    make_client("slow", "own")
    # Now slow is the last reader of jobs, mail and own: its id must be typed.
    _, page = Form(client, "slow").post("remove-all", confirm="slo")
    assert flashed(page, "error", "'slow' is the last subscriber of 3 channels")
    assert admin.channel_names() == ["jobs", "mail", "own", "solo"]
    where, page = Form(client, "slow").post("remove-all", confirm="slow")
    assert where == "/clients"
    assert flashed(page, "ok", "Removed 'slow' from 3 channels.")
    assert admin.channel_names() == ["solo"]


def test_forms_need_csrf(client: FlaskClient, admin: rivulet.Admin, setup: Any) -> None:
    for route, data in (("move", {"channel": "jobs", "index": "0"}),
                        ("remove", {"channel": "jobs"}), ("remove-all", {})):
        response = client.post(f"/clients/fast/{route}", data=data)
        assert response.status_code == 400, route
    assert {s.client_id for s in admin.subscribers("jobs")} == {"fast", "slow"}


def test_read_only_renders_no_form_and_refuses(make_app: Callable[..., Flask],
                                               admin: rivulet.Admin, setup: Any) -> None:
    browser = login(make_app(READ_ONLY=True))
    page = browser.get("/clients/slow").get_data(as_text=True)
    assert 'method="post"' not in page
    anon = make_app(READ_ONLY=True).test_client()
    for route in ("move", "remove", "remove-all"):
        assert browser.post(f"/clients/slow/{route}", data={"channel": "jobs"}).status_code == 403
        assert anon.post(f"/clients/slow/{route}", data={"channel": "jobs"},
                         headers=bearer()).status_code == 403
    assert {s.client_id for s in admin.subscribers("jobs")} == {"fast", "slow"}


def test_admin_client_calls(admin: rivulet.Admin, setup: Any) -> None:
    rows = admin.client("slow")
    assert [(s.channel, s.index, s.lag) for s in rows] == [("jobs", 3, 2), ("mail", 1, 0)]
    assert admin.client("nobody") == []
    assert sorted(admin.client_subscribers("alone")) == ["solo"]
    with pytest.raises(rivulet.InvalidNameError):
        admin.client("")
