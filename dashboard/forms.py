"""Form bodies must be UTF-8: anything else is a clear 400, never a changed value.

werkzeug is lenient in ways that hurt here: a raw invalid byte in a urlencoded
body makes it drop the whole form (so the answer was "CSRF token is missing"),
an invalid percent-escape such as ``%FF`` is kept as the literal text ``%FF``,
and invalid bytes in a multipart field become U+FFFD. Each would post or act on
something the operator did not send.
"""

from __future__ import annotations

import codecs
from io import BytesIO
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import unquote_to_bytes

from flask import Request
from werkzeug.exceptions import BadRequest
from werkzeug.formparser import FormDataParser, MultiPartParser

if TYPE_CHECKING:
    from werkzeug.formparser import t_parse_result as ParseResult

#: A codec name only multipart parsing below asks for.
STRICT_UTF8 = "rivulet-strict-utf-8"


class NotUTF8Form(BadRequest):
    description = (
        "The form is not valid UTF-8, so it was not used. "
        "Send form fields as UTF-8 text (percent-encoded in a URL-encoded body)."
    )


def _strict_decode(data: Any, errors: str = "strict", /) -> tuple[str, int]:
    # The multipart parser asks for errors="replace"; refuse instead. BadRequest
    # is no ValueError, so the parser's "ignore bad forms" handling lets it through.
    try:
        return codecs.utf_8_decode(data, "strict", True)
    except UnicodeDecodeError:
        raise NotUTF8Form() from None


def _find_codec(name: str) -> codecs.CodecInfo | None:
    if name.replace("_", "-") != STRICT_UTF8:
        return None
    utf8 = codecs.lookup("utf-8")
    return codecs.CodecInfo(utf8.encode, _strict_decode, name=STRICT_UTF8)


codecs.register(_find_codec)


def check_urlencoded(body: bytes) -> None:
    """Raise :class:`NotUTF8Form` unless every name and value decodes as UTF-8."""
    try:
        body.decode("utf-8")
        for part in body.split(b"&"):
            unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        raise NotUTF8Form() from None


class StrictMultiPartParser(MultiPartParser):
    def get_part_charset(self, headers: Any) -> str:
        charset = super().get_part_charset(headers)
        return STRICT_UTF8 if charset == "utf-8" else charset


class StrictFormDataParser(FormDataParser):
    def _parse_urlencoded(
        self, stream: IO[bytes], mimetype: str, content_length: int | None,
        options: dict[str, str],
    ) -> ParseResult:
        body = stream.read()
        check_urlencoded(body)
        return super()._parse_urlencoded(BytesIO(body), mimetype, content_length, options)

    def _parse_multipart(
        self, stream: IO[bytes], mimetype: str, content_length: int | None,
        options: dict[str, str],
    ) -> ParseResult:
        parser = StrictMultiPartParser(
            stream_factory=self.stream_factory,
            max_form_memory_size=self.max_form_memory_size,
            max_form_parts=self.max_form_parts,
            cls=self.cls,
        )
        boundary = options.get("boundary", "").encode("ascii")
        if not boundary:
            raise ValueError("Missing boundary")
        form, files = parser.parse(stream, boundary, content_length)
        return stream, form, files


class DashboardRequest(Request):
    form_data_parser_class = StrictFormDataParser
