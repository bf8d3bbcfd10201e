"""One channel: its subscribers and recent messages, and the operator's forms.

Every form posts, redirects (303) and flashes what happened, so it works with
JavaScript off; a mistake in a field is a flashed error, never a 500.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response

from rivulet.exceptions import ChannelNotFoundError, InvalidNameError, NotSubscribedError
from rivulet.models import ChannelInfo, now_ms
from rivulet.names import validate_name

from .backend import admin
from .params import FormError, int_arg, int_field, quoted, seconds_field

bp = Blueprint("channel", __name__, url_prefix="/channels")

#: Values of the subscriber form's ``index`` field besides a message id.
INDEX_POLICIES = ("earliest", "latest")
#: The longest flash: errors from the library may quote input we cannot shorten
#: at the source, and a flash rides in the session cookie (see params.QUOTE_CHARS).
FLASH_CHARS = 300


def _error_text(error: Exception) -> str:
    """An error's message, quoting at most a short prefix of the name it refuses."""
    text = str(error)
    if isinstance(error, InvalidNameError) and isinstance(error.name, str):
        text = text.replace(repr(error.name), quoted(error.name))
    return text


def _flash(message: str, category: str) -> None:
    if len(message) > FLASH_CHARS:
        message = message[:FLASH_CHARS] + "…"
    flash(message, category)


def live_context(name: str) -> dict[str, Any]:
    """The channel's numbers and subscribers (the live part of the page)."""
    info = admin().channel(name)
    subscribers = sorted(admin().subscribers(name), key=lambda s: s.client_id)
    return {"name": name, "info": info, "subscribers": subscribers, "at_ms": now_ms()}


def messages_context(name: str, info: ChannelInfo) -> dict[str, Any]:
    """One page of messages, newest first: ``?before=<id>`` pages back, ``?after=<id>`` forward."""
    size = int(current_app.config["MESSAGES_PAGE_SIZE"])
    before = int_arg(request.args, "before")
    after = int_arg(request.args, "after")
    if after is not None and before is None:
        rows = admin().messages(name, after_id=after, limit=size, newest_first=False)[::-1]
    else:
        rows = admin().messages(name, before_id=before, limit=size)
    newer = bool(rows) and info.newest_id is not None and rows[0]["id"] < info.newest_id
    older = bool(rows) and info.oldest_id is not None and rows[-1]["id"] > info.oldest_id
    return {
        "messages": rows,
        "newer_than": rows[0]["id"] if newer else None,
        "older_than": rows[-1]["id"] if older else None,
        # Paged views hold still; only the newest page follows new messages.
        "messages_live": before is None and after is None,
        "before": before,
        "after": after,
    }


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
def message(name: str, message_id: int) -> str:
    """One message in full (list pages cut long bodies)."""
    found = admin().messages(
        name, after_id=max(0, message_id - 1), before_id=message_id + 1, limit=1
    )
    if not found or found[0]["id"] != message_id:
        raise NotFound(f"Channel {quoted(name)} stores no message {message_id}.")
    return render_template("message.html", name=name, message=found[0])


class _Gone(Exception):
    """The action worked and left no channel to go back to."""


def _back(name: str) -> Response:
    return redirect(url_for("channel.page", name=name), code=303)


def _act(name: str, action: Callable[[], str]) -> Response:
    """Run a form's action; flash its outcome or its error and go back to the channel."""
    validate_name(name)
    try:
        _flash(action(), "ok")
    except _Gone as done:
        _flash(str(done), "ok")
        return redirect(url_for("overview.index"), code=303)
    except ChannelNotFoundError:
        _flash(f"There is no channel {quoted(name)} (deleted meanwhile?).", "error")
        return redirect(url_for("overview.index"), code=303)
    except (FormError, NotSubscribedError, ValueError, TypeError) as error:
        _flash(_error_text(error), "error")
    return _back(name)


@bp.post("/<seg:name>/post")
def post(name: str) -> Response:
    def action() -> str:
        # Browsers send a textarea's line breaks as CRLF; the person typed LF.
        if "data" not in request.form:
            raise FormError("the form has no data field")
        data = request.form["data"].replace("\r\n", "\n")
        src = request.form.get("src", "") or "dashboard"
        message_id = admin().post(name, data, src=src)
        return f"Posted message {message_id} as {quoted(src)}."

    return _act(name, action)


@bp.post("/<seg:name>/prune")
def prune(name: str) -> Response:
    def action() -> str:
        form = request.form
        removed = admin().prune(
            name,
            upto_id=int_field(form, "upto_id"),
            older_than=seconds_field(form, "older_than"),
            consumed=form.get("consumed") == "1",
            keep_last=int_field(form, "keep_last"),
        )
        return f"Pruned {removed:,} message{'s' if removed != 1 else ''}."

    return _act(name, action)


@bp.post("/<seg:name>/subscriber")
def subscriber(name: str) -> Response:
    form = request.form
    # Not stripped: spaces at either end are part of a valid client id.
    client_id = form.get("client_id", "")
    verb = form.get("action", "")

    def move() -> str:
        raw = form.get("index", "").strip().lower()
        target: int | str
        if raw in INDEX_POLICIES:
            target = raw
        else:
            number = int_field(form, "index")
            if number is None:
                raise FormError("index must be a message id, 'earliest' or 'latest'")
            target = number
        index = admin().set_index(name, validate_name(client_id, "client id"), target)
        return f"Moved {quoted(client_id)} to index {index}."

    def remove() -> str:
        if not admin().remove_subscriber(name, validate_name(client_id, "client id")):
            raise FormError(f"{quoted(client_id)} was not subscribed to {quoted(name)}.")
        try:
            admin().channel(name)
        except ChannelNotFoundError:
            # The last subscriber leaving deletes the channel, as unsubscribe does.
            raise _Gone(
                f"Removed subscriber {quoted(client_id)}, the last one: "
                f"channel {quoted(name)} is gone."
            ) from None
        return f"Removed subscriber {quoted(client_id)}."

    def unknown() -> str:
        raise FormError("action must be 'move' or 'remove'")

    return _act(name, {"move": move, "remove": remove}.get(verb, unknown))


@bp.post("/<seg:name>/delete")
def delete(name: str) -> Response:
    validate_name(name)
    if request.form.get("confirm", "") != name:
        _flash("To delete the channel, type its name exactly into the box.", "error")
        return _back(name)
    if not admin().delete_channel(name):
        _flash(f"There was no channel {quoted(name)} to delete.", "error")
    else:
        _flash(f"Deleted channel {quoted(name)}.", "ok")
    return redirect(url_for("overview.index"), code=303)
