"""GET /channels/<id>/messages.ndjson: every stored message as a download,
streamed a page at a time."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

import rivulet

from .conftest import HOSTILE_NAMES, login, seg

NAME = "export/me #1 100%"


@pytest.fixture
def big(make_client: Callable[..., rivulet.Client]) -> int:
    """A channel of 2,600 messages (five pages and a bit), all kept."""
    client = make_client("keeper", NAME)
    for start in range(0, 2600, 500):
        client.write(NAME, [f"m{i} <é>\n\"q\"" for i in range(start, min(start + 500, 2600))])
    return 2600


def test_export_is_a_streamed_attachment_of_every_message(
    client: FlaskClient, big: int
) -> None:
    response = client.get(f"/channels/{seg(NAME)}/messages.ndjson")
    assert response.status_code == 200
    assert response.is_streamed
    assert response.mimetype == "application/x-ndjson"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="export_me__1_100_.ndjson"')
    assert "filename*=UTF-8''export%2Fme%20%231%20100%25.ndjson" in disposition
    lines = response.get_data(as_text=True).splitlines()
    assert len(lines) == big
    first, last = json.loads(lines[0]), json.loads(lines[-1])
    assert (first["id"], first["data"], first["src"]) == (1, 'm0 <é>\n"q"', "keeper")
    assert last["id"] == big and set(first) == {"id", "ts", "src", "data"}


def test_export_reads_one_page_at_a_time(
    client: FlaskClient, big: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int | None] = []
    real = rivulet.Admin.messages

    def spy(self: rivulet.Admin, channel: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs.get("after_id"))
        return real(self, channel, *args, **kwargs)

    monkeypatch.setattr(rivulet.Admin, "messages", spy)
    response = client.get(f"/channels/{seg(NAME)}/messages.ndjson", buffered=False)
    body = iter(response.response)
    next(body)
    # One page is read before the first line goes out, not the whole channel.
    assert calls == [None]
    rest = b"".join(body)
    assert rest.count(b"\n") == big - 1
    assert calls == [None, 500, 1000, 1500, 2000, 2500]
    response.close()


def test_export_bounds(client: FlaskClient, big: int) -> None:
    url = f"/channels/{seg(NAME)}/messages.ndjson"
    lines = client.get(url, query_string={"after": "10", "before": "14"}).get_data(as_text=True)
    assert [json.loads(line)["id"] for line in lines.splitlines()] == [11, 12, 13]
    assert client.get(url, query_string={"after": "x"}).status_code == 400
    assert client.get(f"/channels/{seg('no such')}/messages.ndjson").status_code == 404


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_export_on_hostile_names(
    client: FlaskClient, make_client: Callable[..., rivulet.Client], name: str
) -> None:
    make_client("r", name).write(name, ["a", "<script>b</script>"])
    response = client.get(f"/channels/{seg(name)}/messages.ndjson")
    assert response.status_code == 200
    assert [json.loads(x)["data"] for x in response.get_data(as_text=True).splitlines()] == [
        "a", "<script>b</script>"]
    assert "\n" not in response.headers["Content-Disposition"]
    assert response.headers["Content-Disposition"].isascii()


def test_export_works_read_only_and_needs_login(
    make_app: Callable[..., Flask], big: int
) -> None:
    app = make_app(READ_ONLY=True)
    url = f"/channels/{seg(NAME)}/messages.ndjson"
    response = login(app).get(url)
    # Read it all: a streamed body left open would be closed later, outside the request.
    assert response.status_code == 200 and response.get_data().count(b"\n") == big
    assert app.test_client().get(url).status_code in (302, 303, 401)
