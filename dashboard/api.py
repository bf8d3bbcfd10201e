"""The same data as the pages, as JSON; keys are the dataclass field names."""

from __future__ import annotations

from flask import Blueprint, current_app, json, request
from flask.blueprints import BlueprintSetupState
from werkzeug.exceptions import BadRequest
from werkzeug.wrappers import Response

from .backend import admin
from .listing import listing, parse
from .params import int_arg, substring_glob
from .shared import SingleFlight

bp = Blueprint("api", __name__, url_prefix="/api")

#: The most messages one /api/.../messages call returns.
MAX_MESSAGES = 1000
FLIGHT_KEY = "rivulet.api.channels.flight"


@bp.record_once
def _make_flight(state: BlueprintSetupState) -> None:
    state.app.extensions[FLIGHT_KEY] = SingleFlight[str]()


def _json(body: object) -> Response:
    return Response(json.dumps(body), mimetype="application/json")


@bp.get("/channels")
def channels() -> Response:
    """``{"channels": [...], "total": N, "counts": {status: N}, "scanned_at_ms": ms|null}``;
    ``q`` filters by substring; ``sort``, ``order``, ``problems`` as the overview;
    ``offset``, ``limit``."""
    query = request.args.get("q", "").strip()
    offset = int_arg(request.args, "offset", default=0) or 0
    limit = int_arg(request.args, "limit")
    sort, order, problems = parse(request.args)

    def body() -> str:
        found = listing(substring_glob(query) if query else None, sort, order, problems,
                        offset=offset, limit=limit)
        return json.dumps({
            "channels": [row.to_dict() for row in found.rows],
            "total": found.total,
            "counts": found.counts,
            "scanned_at_ms": found.scanned_at_ms,
        })

    # Every channel by default: identical listings asked at once share one reading.
    flight: SingleFlight[str] = current_app.extensions[FLIGHT_KEY]
    view = () if (sort, order, problems) == ("name", "asc", False) else (sort, order, problems)
    return Response(flight.run((query, offset, limit, *view), body), mimetype="application/json")


@bp.get("/channels/<seg:name>")
def channel(name: str) -> Response:
    """``{"channel": {...}, "subscribers": [...]}``."""
    info = admin().channel(name)
    subscribers = admin().subscribers(name)
    return _json({"channel": info.to_dict(), "subscribers": [s.to_dict() for s in subscribers]})


@bp.get("/channels/<seg:name>/messages")
def messages(name: str) -> Response:
    """``{"messages": [...]}``: ``after_id``, ``before_id``, ``limit``, ``newest_first``."""
    limit = int_arg(request.args, "limit", default=50, minimum=1) or 50
    if limit > MAX_MESSAGES:
        raise BadRequest(f"limit must be at most {MAX_MESSAGES}")
    order = request.args.get("newest_first", "1").strip().lower()
    if order not in ("0", "1", "true", "false"):
        raise BadRequest("newest_first must be 1/0 or true/false")
    rows = admin().messages(
        name,
        after_id=int_arg(request.args, "after_id"),
        before_id=int_arg(request.args, "before_id"),
        limit=limit,
        newest_first=order in ("1", "true"),
    )
    return _json({"messages": rows})


@bp.get("/clients")
def clients() -> Response:
    """``{"clients": [...], "total": N}`` with ``offset``/``limit``."""
    rows = admin().clients(
        offset=int_arg(request.args, "offset", default=0) or 0,
        limit=int_arg(request.args, "limit"),
    )
    return _json({"clients": [row.to_dict() for row in rows], "total": admin().client_count()})
