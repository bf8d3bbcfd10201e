"""One channel: its subscribers and messages (with search and seek).

The operator's forms are in :mod:`.channel_actions`, the NDJSON export in
:mod:`.export`; both add their routes to this blueprint.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template, request

from rivulet.exceptions import BackendError, ChannelNotFoundError, RivuletError, TimeoutError
from rivulet.history import HistorySettings
from rivulet.models import ChannelInfo, Rows, now_ms
from rivulet.search import MAX_QUERY_CHARS, parse_time_ms

from . import sparkline
from .backend import admin
from .params import int_arg, quoted
from .status import channel_status

bp = Blueprint("channel", __name__, url_prefix="/channels")


@bp.app_context_processor
def server_clock() -> dict[str, int]:
    """The server's time on every page: app.js ticks relative times from it,
    so a wrong clock on the operator's computer does not skew "4 s ago"."""
    return {"server_now_ms": now_ms()}


def live_context(name: str) -> dict[str, Any]:
    """The channel's numbers and subscribers (the live part of the page)."""
    info = admin().channel(name)
    settings: HistorySettings | RivuletError | None = None
    try:
        subscribers = sorted(admin().subscribers(name), key=lambda s: s.client_id)
        # One round trip for every sparkline on the page, however many
        # subscribers, and the history form's settings in force with them.
        samples, settings = admin().history_and_settings(name)
    except BackendError as error:
        if isinstance(error, TimeoutError):
            raise  # an outage: the 503 page
        # A key written around the library: the page still renders (info.error
        # names it), so the delete form stays within reach.
        subscribers, samples = [], Rows()
    if isinstance(settings, TimeoutError):
        raise settings
    at = now_ms()
    head, worst = sparkline.channel_series(samples)
    # Every chart shares one time axis, ending now, so their shapes compare.
    t0 = head[0][0] if head else None
    # The history form shows once the library can keep lag history.
    return {"name": name, "info": info, "subscribers": subscribers, "at_ms": at,
            "has_history": hasattr(admin(), "set_history"),
            "history_settings": settings if isinstance(settings, HistorySettings) else None,
            "history_settings_error": str(settings) if isinstance(settings, RivuletError)
            else None,
            "ch_status": channel_status(info, subscribers),
            "lag_points": sparkline.lag_series(samples), "head_points": head,
            "worst_points": worst, "spark_t0": t0, "spark_t1": at}


def _search_context(name: str, query: str, before: int | None, size: int) -> dict[str, Any]:
    found = admin().search(name, query, before_id=before, limit=size)
    return {"messages": found.messages, "newer_than": None, "older_than": None,
            "search_resume": found.resume, "search_scanned": found.scanned}


def _seek_context(name: str, at_ms: int, size: int, info: ChannelInfo) -> dict[str, Any]:
    first = admin().seek(name, at_ms)
    if first is None:
        return {"messages": [], "newer_than": None, "older_than": None}
    rows = admin().messages(name, after_id=first - 1, limit=size, newest_first=False)[::-1]
    return _paged(rows, info)


def _paged(rows: list[Any], info: ChannelInfo) -> dict[str, Any]:
    newer = bool(rows) and info.newest_id is not None and rows[0]["id"] < info.newest_id
    older = bool(rows) and info.oldest_id is not None and rows[-1]["id"] > info.oldest_id
    return {"messages": rows, "newer_than": rows[0]["id"] if newer else None,
            "older_than": rows[-1]["id"] if older else None}


def messages_context(name: str, info: ChannelInfo) -> dict[str, Any]:
    """One page of messages, newest first.

    ``?before=<id>`` pages back, ``?after=<id>`` forward; ``?at=<time>`` starts
    the page at the first message written at or after a time; ``?q=<text>``
    shows only messages whose data or src contains the text (paged by
    ``before``, each page a bounded scan).
    """
    size = int(current_app.config["MESSAGES_PAGE_SIZE"])
    before = int_arg(request.args, "before")
    after = int_arg(request.args, "after")
    query = request.args.get("q", "")
    at_raw = request.args.get("at", "").strip()
    context: dict[str, Any] = {"query": query, "at": at_raw, "before": before, "after": after,
                               "search_error": None, "seek_ms": None}
    # Paged, searched and sought views hold still; only the newest page is live.
    context["messages_live"] = before is None and after is None and not query and not at_raw
    try:
        _fill_messages(context, name, info, size)
    except BackendError as error:
        if isinstance(error, TimeoutError):
            raise
        context.update(messages=[], newer_than=None, older_than=None,
                       search_error=f"The messages cannot be read: {error}")
    return context


def _fill_messages(context: dict[str, Any], name: str, info: ChannelInfo, size: int) -> None:
    query, at_raw = context["query"], context["at"]
    before, after = context["before"], context["after"]
    if len(query) > MAX_QUERY_CHARS:
        context.update(messages=[], newer_than=None, older_than=None,
                       search_error=f"Search for at most {MAX_QUERY_CHARS} characters.")
    elif query:
        context.update(_search_context(name, query, before, size))
    elif at_raw and before is None and after is None:
        try:
            context["seek_ms"] = parse_time_ms(at_raw)
        except ValueError as error:
            context.update(messages=[], newer_than=None, older_than=None,
                           search_error=f"“Written at or after”: {error}.")
        else:
            context.update(_seek_context(name, context["seek_ms"], size, info))
    elif after is not None and before is None:
        rows = admin().messages(name, after_id=after, limit=size, newest_first=False)[::-1]
        context.update(_paged(rows, info))
    else:
        context.update(_paged(admin().messages(name, before_id=before, limit=size), info))


@bp.get("/<seg:name>")
def page(name: str) -> str:
    context = live_context(name)
    context.update(messages_context(name, context["info"]))
    return render_template("channel.html", **context)


@bp.get("/<seg:name>/_live")
def live_fragment(name: str) -> str:
    try:
        context = live_context(name)
    except ChannelNotFoundError:
        return render_template("_channel.html", name=name, gone=True)
    # The delete form's summary rides along out of band, so it stays current.
    return render_template("_channel.html", oob=True, **context)


@bp.get("/<seg:name>/_messages")
def messages_fragment(name: str) -> str:
    try:
        info = admin().channel(name)
    except ChannelNotFoundError:
        return render_template("_messages.html", name=name, gone=True)
    return render_template("_messages.html", name=name, **messages_context(name, info))


@bp.get("/<seg:name>/messages/<int:message_id>")
def message(name: str, message_id: int) -> str | tuple[str, int]:
    """One message in full (list pages cut long bodies).

    A message that is no longer stored says why it may have gone: links to a
    message go stale as soon as every subscriber read it and it was pruned.
    """
    found = admin().messages(
        name, after_id=max(0, message_id - 1), before_id=message_id + 1, limit=1
    )
    if found and found[0]["id"] == message_id:
        return render_template("message.html", name=name, message=found[0])
    info = admin().channel(name)
    page_html = render_template("message_gone.html", name=name, message_id=message_id,
                                info=info, quoted_name=quoted(name))
    return page_html, 404


# Registered on bp by importing them (after bp exists).
from . import channel_actions, export  # noqa: E402

__all__ = ["bp", "channel_actions", "export", "live_context", "messages_context"]
