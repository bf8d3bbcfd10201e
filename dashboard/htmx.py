"""Every HX-* header the dashboard reads or writes, in one place."""

from __future__ import annotations

from flask import Request, Response

HX_REQUEST = "HX-Request"
HX_REFRESH = "HX-Refresh"


def is_htmx(request: Request) -> bool:
    """True when htmx made the request (it sends ``HX-Request: true``)."""
    return request.headers.get(HX_REQUEST) == "true"


def refresh_page(response: Response) -> Response:
    """Ask htmx to reload the whole page (e.g. to show the login page)."""
    response.headers[HX_REFRESH] = "true"
    return response
