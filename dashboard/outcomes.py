"""What a form did, shown where the person is.

A form posts, and the 303 goes back to ``#<form>-outcome``: the outcome
message itself, rendered inside the form it concerns. It carries
``tabindex="-1"``, so the browser's fragment navigation scrolls to it *and*
moves keyboard focus onto it, with no script (the CSP allows none inline) and
with JavaScript off. A flash is tagged with its form's id in its category
(``ok@post-form``); untagged ones (the channel is gone, the page is another)
and tagged ones for a form the page does not show are listed at the top, and
a redirect to another page goes to ``#flashes``, that list, focusable too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from flask import Flask, flash, get_flashed_messages, url_for

#: The longest flash: errors from the library may quote input we cannot shorten
#: at the source, and a flash rides in the session cookie (see params.QUOTE_CHARS).
FLASH_CHARS = 300
_TAG = "@"
#: The id of the list of flashes on top of a page.
TOP = "flashes"


def anchor(form_id: str) -> str:
    """The id of a form's outcome message, and the redirect's #anchor."""
    return f"{form_id}-outcome"


def say(message: str, kind: str, form_id: str | None = None) -> None:
    """Flash ``message`` ("ok" or "error"), shown beside ``form_id`` when given."""
    if len(message) > FLASH_CHARS:
        message = message[:FLASH_CHARS] + "…"
    flash(message, kind if form_id is None else f"{kind}{_TAG}{form_id}")


def back_to(endpoint: str, form_id: str, **values: Any) -> str:
    """The URL of a page, at the outcome of one of its forms."""
    return url_for(endpoint, **values) + "#" + anchor(form_id)


def to_top(endpoint: str, **values: Any) -> str:
    """The URL of a page, at the flashes on its top (focusable, like an outcome)."""
    return url_for(endpoint, **values) + "#" + TOP


def _flashes() -> list[tuple[str, str, str | None]]:
    # (kind, message, form id or None); Flask pops them once per request and
    # keeps them, so each call in one render sees the same list.
    found = []
    flashed = cast("list[tuple[str, str]]", get_flashed_messages(with_categories=True))
    for category, message in flashed:
        kind, _, form_id = category.partition(_TAG)
        found.append(("error" if kind == "error" else "ok", message, form_id or None))
    return found


def outcomes_for(form_id: str) -> list[tuple[str, str]]:
    """The (kind, message) outcomes of one form."""
    return [(kind, message) for kind, message, form in _flashes() if form == form_id]


def top_flashes(forms_here: Iterable[str] = ()) -> list[tuple[str, str]]:
    """The flashes the top of the page shows: those about no form on it."""
    here = set(forms_here)
    return [(kind, message) for kind, message, form in _flashes() if form not in here]


def init_app(app: Flask) -> None:
    app.jinja_env.globals.update(outcomes_for=outcomes_for, top_flashes=top_flashes,
                                 outcome_anchor=anchor)
