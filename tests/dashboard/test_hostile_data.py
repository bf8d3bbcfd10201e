"""Any message body renders on every page that shows messages, and previews stay bounded.

A body the JSON pretty-printer chokes on must not turn the channel page into a 500:
that page holds the forms to prune or delete the channel.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from markupsafe import escape

import rivulet
from dashboard.formatting import PREVIEW_CHARS, pretty

from .conftest import bearer

NAME = "hostile data"
DEEP = "[" * 1000 + "]" * 1000

#: Bodies that are (or look like) JSON but cannot be indented faithfully, shown as stored.
RAW_BODIES = [
    DEEP,  # RecursionError in json.loads
    "[" * 40 + "]" * 40,  # parses, but indents to ~depth^2 characters
    "[" + "9" * 5000 + "]",  # past Python's int-string limit
    "[1e400]",  # would print as Infinity
    "[0.1000000000000000055511151231257827]",  # would lose digits
    "[NaN, Infinity]",  # not JSON at all
    '["\\ud800"]',  # a lone surrogate, which no page can encode
    '{"a": 1, "a": 2}',  # printing would drop the first value
    '{"unterminated": "\\',
]


@pytest.fixture
def stored(make_client: Callable[..., rivulet.Client]) -> list[int]:
    """The channel with every hostile body, one message each; their ids."""
    writer = make_client("writer", NAME)
    return writer.write(NAME, RAW_BODIES)


RAW_IDS = ["deep", "nested-40", "huge-int", "1e400", "digits", "nan", "surrogate", "dup-key", "cut"]


@pytest.mark.parametrize("body", RAW_BODIES, ids=RAW_IDS)
def test_pretty_shows_what_it_cannot_indent_faithfully_as_stored(body: str) -> None:
    assert pretty(body) == body


def test_pretty_still_indents_ordinary_json() -> None:
    assert pretty('{"n": [1.5, 10, -2e-3, "\\u00e9"]}') == (
        '{\n  "n": [\n    1.5,\n    10,\n    -0.002,\n    "é"\n  ]\n}'
    )
    nested = "[" * 32 + "]" * 32
    assert pretty(nested).count("\n") == 62


def test_channel_page_and_fragment_render_every_hostile_body(
    client: FlaskClient, stored: list[int]
) -> None:
    page = client.get("/channels/hostile%20data")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    # The forms that fix the channel are reachable.
    assert 'action="/channels/hostile%20data/prune"' in text
    assert 'action="/channels/hostile%20data/delete#delete-form-outcome"' in text
    fragment = client.get("/channels/hostile%20data/_messages")
    assert fragment.status_code == 200
    for body in RAW_BODIES:
        shown = str(escape(body))[:PREVIEW_CHARS]
        assert shown in text and shown in fragment.get_data(as_text=True)


def test_message_page_renders_every_hostile_body_whole(
    client: FlaskClient, stored: list[int]
) -> None:
    for message_id, body in zip(stored, RAW_BODIES):
        page = client.get(f"/channels/hostile%20data/messages/{message_id}")
        assert page.status_code == 200, body[:50]
        assert str(escape(body)) in page.get_data(as_text=True)


def test_api_returns_hostile_bodies_unchanged(
    client: FlaskClient, stored: list[int]
) -> None:
    response = client.get(
        "/api/channels/hostile%20data/messages?newest_first=0&limit=100", headers=bearer()
    )
    assert response.status_code == 200
    assert [m["data"] for m in response.get_json()["messages"]] == RAW_BODIES


def test_list_previews_of_huge_bodies_are_bounded(
    client: FlaskClient, make_client: Callable[..., rivulet.Client]
) -> None:
    writer = make_client("writer", NAME)
    huge_text = "x" * ((1 << 20) - 100)
    huge_json = '["' + "y" * ((1 << 20) - 100) + '"]'
    huge_deep = "[" * 500_000 + "]" * 500_000
    ids = [writer.write(NAME, body)[0] for body in (huge_text, huge_json, huge_deep)]
    for path in ("/channels/hostile%20data", "/channels/hostile%20data/_messages"):
        response = client.get(path)
        assert response.status_code == 200
        # Three previews of at most PREVIEW_CHARS each, plus the page around them.
        assert len(response.get_data()) < 3 * PREVIEW_CHARS + 30_000
    # The message page shows a body whole, as stored when it is too big to indent.
    for message_id, body in zip(ids, [huge_text, huge_json, huge_deep]):
        page = client.get(f"/channels/hostile%20data/messages/{message_id}")
        assert page.status_code == 200
        assert str(escape(body)) in page.get_data(as_text=True)
