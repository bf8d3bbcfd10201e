"""Channel ids travel as one percent-encoded segment through a real HTTP server."""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable
from urllib.parse import quote

import pytest

import rivulet
from dashboard.rawpath import SegmentConverter, raw_path_info

from .conftest import HOSTILE_NAMES, TOKEN, LiveServer, seg


def get(server: LiveServer, path: str) -> tuple[int, str]:
    """GET exactly this request target (no client-side normalisation)."""
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {TOKEN}"})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def test_hostile_names_through_werkzeug_dev_server(
    live: LiveServer, make_real_client: Callable[..., rivulet.Client]
) -> None:
    make_real_client("r", HOSTILE_NAMES)
    for name in HOSTILE_NAMES:
        status, body = get(live, f"/api/channels/{seg(name)}")
        assert status == 200, (name, body[:300])
        assert json.loads(body)["channel"]["name"] == name
        status, body = get(live, f"/channels/{seg(name)}/_live")
        assert status == 200, name
    # The overview links every channel by its encoded id.
    status, body = get(live, "/")
    for name in HOSTILE_NAMES:
        assert f'href="/channels/{seg(name)}"' in body.replace("&amp;", "&")


def test_an_encoded_slash_is_not_a_separator(
    live: LiveServer, make_real_client: Callable[..., rivulet.Client]
) -> None:
    make_real_client("r", ["a/_live", "a"])
    status, body = get(live, "/api/channels/a%2F_live")
    assert status == 200 and json.loads(body)["channel"]["name"] == "a/_live"
    status, body = get(live, f"/channels/{seg('a/_live')}")
    assert status == 200 and '<h1 class="channel-name">a/_live</h1>' in body.replace("<wbr>", "")
    status, body = get(live, "/channels/a/_live")
    assert status == 200 and 'id="channel-live"' in body and "<html" not in body


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"RAW_URI": "/channels/a%2Fb?x=1", "PATH_INFO": "/channels/a/b"}, "/channels/a%2Fb"),
        ({"REQUEST_URI": "/c/%2F%25", "PATH_INFO": "/c//%"}, "/c/%2F%25"),
        ({"RAW_URI": "http://h/c/a%2Fb", "PATH_INFO": "/c/a/b"}, "/c/a%2Fb"),
        ({"RAW_URI": "/app/c/a%2Fb", "SCRIPT_NAME": "/app", "PATH_INFO": "/c/a/b"}, "/c/a%2Fb"),
        # A raw URI that disagrees with PATH_INFO (a rewriting proxy) is not trusted.
        ({"RAW_URI": "/other", "PATH_INFO": "/c/a"}, None),
        ({"PATH_INFO": "/c/a"}, None),
    ],
)
def test_raw_path_info(environ: dict[str, str], expected: str | None) -> None:
    assert raw_path_info(environ) == expected


def test_segment_converter_round_trips() -> None:
    converter = SegmentConverter(None)  # type: ignore[arg-type]
    for name in HOSTILE_NAMES:
        encoded = converter.to_url(name)
        assert "/" not in encoded and encoded == quote(name, safe="")
        assert converter.to_python(encoded) == name
