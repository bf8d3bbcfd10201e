"""Clients: every client id with the channels it reads and its lag in each."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template, request

from .backend import admin
from .params import int_arg

bp = Blueprint("clients", __name__, url_prefix="/clients")


def clients_context() -> dict[str, Any]:
    size = int(current_app.config["PAGE_SIZE"])
    page = int_arg(request.args, "page", default=1, minimum=1) or 1
    rows = admin().clients(offset=(page - 1) * size, limit=size)
    total = admin().client_count()
    return {
        "clients": rows,
        "total": total,
        "page": page,
        "pages": max(1, -(-total // size)),
    }


@bp.get("")
def index() -> str:
    return render_template("clients.html", **clients_context())


@bp.get("/_live")
def live_fragment() -> str:
    return render_template("_clients.html", **clients_context())
