"""A form body that is not UTF-8 is a clear 400 that says so, and changes nothing.

Before, werkzeug dropped a urlencoded form with a raw invalid byte (the answer was
"CSRF token is missing"), kept ``%FF`` as the text "%FF", and replaced invalid
bytes in multipart fields with U+FFFD, posting something nobody sent.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient

import rivulet

from .conftest import bearer, csrf_token

NAME = "encodings"
PAGE = "/channels/encodings"
URLENCODED = "application/x-www-form-urlencoded"


@pytest.fixture
def reader(make_client: Callable[..., rivulet.Client]) -> rivulet.Client:
    client = make_client("reader", NAME)
    client.write(NAME, ["m1"])
    return client


def multipart(fields: dict[str, bytes]) -> tuple[bytes, str]:
    boundary = "rivuletboundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        + value + b"\r\n"
        for name, value in fields.items()
    ]
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def assert_not_utf8(response: object, admin: rivulet.Admin) -> None:
    text = response.get_data(as_text=True)  # type: ignore[attr-defined]
    assert response.status_code == 400, text[:300]  # type: ignore[attr-defined]
    assert "not valid UTF-8" in text
    assert "CSRF token" not in text
    assert [m["data"] for m in admin.messages(NAME)] == ["m1"]


@pytest.mark.parametrize(
    "data",
    [b"data=%FF", b"data=\xff", b"data=ok&src=\xff\xfe", b"data=%ED%A0%80", b"d\xffta=x"],
    ids=["escaped", "raw", "raw-second-field", "surrogate", "raw-in-name"],
)
def test_urlencoded_body_that_is_not_utf8_is_a_clear_400(
    client: FlaskClient, admin: rivulet.Admin, reader: rivulet.Client, data: bytes
) -> None:
    token = quote(csrf_token(client, PAGE)).encode()
    response = client.post(
        f"{PAGE}/post", data=b"csrf_token=" + token + b"&" + data, content_type=URLENCODED
    )
    assert_not_utf8(response, admin)


def test_multipart_field_that_is_not_utf8_is_a_clear_400(
    client: FlaskClient, admin: rivulet.Admin, reader: rivulet.Client
) -> None:
    body, content_type = multipart(
        {"csrf_token": csrf_token(client, PAGE).encode(), "data": b"caf\xe9"}
    )
    response = client.post(f"{PAGE}/post", data=body, content_type=content_type)
    assert_not_utf8(response, admin)


def test_bearer_clients_get_the_same_400(
    client: FlaskClient, admin: rivulet.Admin, reader: rivulet.Client
) -> None:
    response = client.post(
        f"{PAGE}/post", data=b"data=\xff", content_type=URLENCODED, headers=bearer()
    )
    assert_not_utf8(response, admin)


def test_utf8_forms_still_post(
    client: FlaskClient, admin: rivulet.Admin, reader: rivulet.Client
) -> None:
    token = csrf_token(client, PAGE)
    body = f"csrf_token={quote(token)}&data={quote('été ✓')}+x&src=a%2Bb".encode()
    assert client.post(f"{PAGE}/post", data=body, content_type=URLENCODED).status_code == 303
    body, content_type = multipart(
        {"csrf_token": token.encode(), "data": "日本".encode(), "src": b"multi"}
    )
    assert client.post(f"{PAGE}/post", data=body, content_type=content_type).status_code == 303
    assert [(m["data"], m["src"]) for m in admin.messages(NAME, limit=2)] == [
        ("日本", "multi"),
        ("été ✓ x", "a+b"),
    ]
