"""The overview: every channel with its size, head, subscribers, worst lag and status."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template, request, url_for

from .listing import DEFAULT_ORDER, listing, parse
from .params import int_arg, substring_glob

bp = Blueprint("overview", __name__)

#: The overview's columns: (sort key, header, is a number).
COLUMNS = (
    ("name", "Channel", False),
    ("messages", "Messages", True),
    ("head_id", "Head id", True),
    ("subscribers", "Subscribers", True),
    ("lag", "Worst lag", True),
    ("lag_seconds", "Oldest unread", True),
    ("status", "Status", False),
    ("last_write", "Last write", False),
)


def headers(view: dict[str, Any], sort: str, order: str) -> list[dict[str, Any]]:
    """Each column's header: a link that sorts by it (the current column's
    link flips the order) and its ``aria-sort``."""
    result = []
    for key, label, numeric in COLUMNS:
        start = DEFAULT_ORDER.get(key, "desc")
        target = ("desc" if order == "asc" else "asc") if key == sort else start
        args = {**view, "sort": None if key == "name" and target == "asc" else key,
                "order": None if target == start else target}
        result.append({
            "key": key, "label": label, "numeric": numeric,
            "href": url_for("overview.index", **args),
            "aria_sort": ("ascending" if order == "asc" else "descending") if key == sort else None,
            "arrow": ("▲" if order == "asc" else "▼") if key == sort else "",
        })
    return result


def overview_context() -> dict[str, Any]:
    """One page of channels: ``q`` substring filter, ``page`` (1-based), ``sort``,
    ``order`` and ``problems``."""
    size = int(current_app.config["PAGE_SIZE"])
    query = request.args.get("q", "").strip()
    page = int_arg(request.args, "page", default=1, minimum=1) or 1
    sort, order, problems = parse(request.args)
    match = substring_glob(query) if query else None
    found = listing(match, sort, order, problems, offset=(page - 1) * size, limit=size)
    pages = max(1, -(-found.total // size))
    # What every link on the page carries, so paging and filtering keep the view.
    view = {
        "q": query or None,
        "sort": None if sort == "name" and order == "asc" else sort,
        "order": None if order == DEFAULT_ORDER.get(sort, "desc") else order,
        "problems": "1" if problems else None,
    }
    return {
        "channels": found.rows,
        "total": found.total,
        "counts": found.counts,
        "scanned_at_ms": found.scanned_at_ms,
        "query": query,
        "page": page,
        "pages": pages,
        "sort": sort,
        "order": order,
        "problems": problems,
        "view": view,
        "headers": headers(view, sort, order),
        "first_row": (page - 1) * size + 1 if found.rows else 0,
        "last_row": (page - 1) * size + len(found.rows),
    }


@bp.get("/")
def index() -> str:
    return render_template("overview.html", **overview_context())


@bp.get("/_channels")
def channels_fragment() -> str:
    """The live channel table the overview includes, for htmx to poll."""
    return render_template("_channels.html", **overview_context())
