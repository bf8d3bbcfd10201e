"""Clients: every client id with the channels it reads, its lag and status in each."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template, request

from rivulet.models import now_ms

from .backend import admin
from .params import int_arg
from .status import subscriber_status, worst

# No url_prefix: the live table is /_clients (as the overview's is /_channels),
# so every /clients/<id> is a client's page, a client named "_live" included.
bp = Blueprint("clients", __name__)


def clients_context() -> dict[str, Any]:
    size = int(current_app.config["PAGE_SIZE"])
    page = int_arg(request.args, "page", default=1, minimum=1) or 1
    rows = admin().clients(offset=(page - 1) * size, limit=size)
    total = admin().client_count()
    # Status needs each subscriber's last read: one pipeline for the page's channels.
    channels = sorted({c for row in rows for c in row.channels})
    subscribers = admin().subscribers_many(channels) if channels else {}
    at = now_ms()
    statuses: dict[str, dict[str, str]] = {row.client_id: {} for row in rows}
    for channel, subs in subscribers.items():
        for s in subs:
            if s.client_id in statuses:
                statuses[s.client_id][channel] = subscriber_status(s, at)
    return {
        "clients": rows,
        "statuses": statuses,
        "worst": {client: worst(each.values()) for client, each in statuses.items()},
        "total": total,
        "page": page,
        "pages": max(1, -(-total // size)),
    }


@bp.get("/clients")
def index() -> str:
    return render_template("clients.html", **clients_context())


@bp.get("/_clients")
def live_fragment() -> str:
    return render_template("_clients.html", **clients_context())
