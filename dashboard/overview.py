"""The overview: every channel with its size, head, subscribers and worst lag."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template, request

from .backend import admin
from .params import int_arg, substring_glob

bp = Blueprint("overview", __name__)


def overview_context() -> dict[str, Any]:
    """One page of channels (``?q=`` substring filter, ``?page=`` 1-based)."""
    size = int(current_app.config["PAGE_SIZE"])
    query = request.args.get("q", "").strip()
    page = int_arg(request.args, "page", default=1, minimum=1) or 1
    match = substring_glob(query) if query else None
    rows, total = admin().channel_page(match, offset=(page - 1) * size, limit=size)
    pages = max(1, -(-total // size))
    return {
        "channels": rows,
        "total": total,
        "query": query,
        "page": page,
        "pages": pages,
        "first_row": (page - 1) * size + 1 if rows else 0,
        "last_row": (page - 1) * size + len(rows),
    }


@bp.get("/")
def index() -> str:
    return render_template("overview.html", **overview_context())


@bp.get("/_channels")
def channels_fragment() -> str:
    """The live channel table the overview includes, for htmx to poll."""
    return render_template("_channels.html", **overview_context())
