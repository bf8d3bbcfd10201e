"""``GET /channels/<id>/messages.ndjson``: stored messages as a file, one JSON
object a line, oldest first.

The body is a generator reading one page at a time, so exporting a channel
of millions of messages holds one page in memory, never the whole channel.
A page that fails midway ends the download short (the client sees a
truncated transfer); the lines already sent are whole messages.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import quote

from flask import Response, request, stream_with_context

from rivulet import Admin

from .backend import admin
from .channel import bp
from .params import int_arg

#: Messages read per round trip while exporting.
EXPORT_PAGE = 500


def export_lines(source: Admin, name: str, after: int | None,
                 before: int | None) -> Iterator[str]:
    """Every stored message with ``after < id < before`` as NDJSON lines."""
    cursor = after
    while True:
        rows = source.messages(name, after_id=cursor, before_id=before, limit=EXPORT_PAGE,
                               newest_first=False)
        for row in rows:
            yield json.dumps(row, ensure_ascii=False) + "\n"
        if len(rows) < EXPORT_PAGE:
            return
        cursor = rows[-1]["id"]


def _filename(name: str) -> str:
    """A safe file name for the download (RFC 6266: ASCII fallback + UTF-8)."""
    ascii_name = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in name)
    return (f"attachment; filename=\"{ascii_name[:80] or 'channel'}.ndjson\"; "
            f"filename*=UTF-8''{quote(name[:200], safe='')}.ndjson")


@bp.get("/<seg:name>/messages.ndjson")
def export(name: str) -> Response:
    after = int_arg(request.args, "after")
    before = int_arg(request.args, "before")
    source = admin()
    # The channel is looked up before the first byte, so a missing channel is
    # a 404 page, not an empty file.
    source.channel(name)
    lines = export_lines(source, name, after, before)
    response = Response(stream_with_context(lines), mimetype="application/x-ndjson")
    response.headers["Content-Disposition"] = _filename(name)
    return response
