"""Every HX-* header the dashboard reads or writes, in one place."""

from __future__ import annotations

from flask import Request, Response

HX_REQUEST = "HX-Request"
HX_REFRESH = "HX-Refresh"


def is_htmx(request: Request) -> bool:
    """True when htmx made the request (it sends ``HX-Request: true``)."""
    return request.headers.get(HX_REQUEST) == "true"


def vary_on_htmx(response: Response) -> Response:
    """Caches must not mix a fragment and a full page served at one URL."""
    response.vary.add(HX_REQUEST)
    return response


def refresh_page(response: Response) -> Response:
    """Ask htmx to reload the whole page (e.g. to show the login page)."""
    response.headers[HX_REFRESH] = "true"
    return response
