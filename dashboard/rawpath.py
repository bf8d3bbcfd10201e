"""Route on the raw request path, so a channel id is always one path segment.

A channel id may hold ``/``, ``%``, ``#``, ``?`` or start with ``/``; the
dashboard sends it as one segment, ``quote(id, safe="")``.  WSGI servers decode
``PATH_INFO`` before Flask sees it, which turns ``a%2Fb`` into two segments, so
:class:`RawPathMiddleware` puts the undecoded path back (from ``RAW_URI`` or
``REQUEST_URI``, set by waitress, werkzeug's server and test client, gunicorn and uWSGI)
and :class:`SegmentConverter` decodes each segment exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

from werkzeug.routing import BaseConverter, ValidationError

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

#: Environ key: True when PATH_INFO holds the client's own encoding of the path.
RAW_FLAG = "rivulet.raw_path"
#: Characters a path keeps unencoded when we have to re-encode it ourselves.
PATH_SAFE = "/:@!$&'()*+,;=-._~"


def _latin1_to_text(value: str) -> str:
    # WSGI strings are bytes smuggled through latin-1 ("the encoding dance").
    return value.encode("latin-1").decode("utf-8", "replace")


def _text_to_latin1(value: str) -> str:
    return value.encode("utf-8").decode("latin-1")


def raw_path_info(environ: WSGIEnvironment) -> str | None:
    """The undecoded PATH_INFO for this request, or None if it cannot be trusted."""
    raw_uri = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not isinstance(raw_uri, str) or not raw_uri:
        return None
    raw = _latin1_to_text(raw_uri)
    if "://" in raw.split("?", 1)[0]:
        # Absolute-form request target (a proxy's habit): keep only the path.
        raw = urlsplit(raw).path
    raw_path = raw.split("?", 1)[0].split("#", 1)[0]
    script_name = _latin1_to_text(environ.get("SCRIPT_NAME", ""))
    if script_name:
        # Mounted under a prefix: strip it in its raw form, or give up.
        quoted_prefix = quote(script_name, safe=PATH_SAFE)
        for prefix in (script_name, quoted_prefix):
            if raw_path.startswith(prefix):
                raw_path = raw_path[len(prefix) :]
                break
        else:
            return None
    decoded = _latin1_to_text(environ.get("PATH_INFO", ""))
    # Only trust the raw path if it says the same as the server's decoding did.
    if unquote(raw_path) != decoded:
        return None
    return raw_path


def encoded_path(environ: WSGIEnvironment) -> str:
    """This request's PATH_INFO as URL text (still percent-encoded), for a Location."""
    text = _latin1_to_text(environ.get("PATH_INFO", "") or "/")
    return quote(text, safe=PATH_SAFE + "%")


class RawPathMiddleware:
    """WSGI middleware: make PATH_INFO the still-percent-encoded path.

    Without a trustworthy raw URI the decoded path is encoded again, so routing
    always sees encoded segments (only a ``/`` inside an id is lost that way).
    """

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        raw = raw_path_info(environ)
        if raw is None:
            decoded = _latin1_to_text(environ.get("PATH_INFO", ""))
            environ["PATH_INFO"] = quote(decoded, safe=PATH_SAFE)
            environ[RAW_FLAG] = False
        else:
            environ["PATH_INFO"] = _text_to_latin1(raw)
            environ[RAW_FLAG] = True
        return self.app(environ, start_response)


class SegmentConverter(BaseConverter):
    """One path segment holding any name: ``quote(name, safe="")`` both ways."""

    regex = "[^/]+"
    part_isolating = True

    def to_python(self, value: str) -> str:
        try:
            return unquote(value, errors="strict")
        except UnicodeDecodeError:
            raise ValidationError() from None

    def to_url(self, value: Any) -> str:
        return quote(str(value), safe="")
