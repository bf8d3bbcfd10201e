"""The channel page's forms: post, prune (preview, then confirm), retention,
history, move or remove a subscriber, delete.

Every form works with JavaScript off. A form that acts posts, redirects (303)
and flashes what happened; a mistake in a field is a flashed error, never a
500. Lossy actions ask first: prune shows what it would remove and who has
not read it, removing the last subscriber (which deletes the channel) asks
for the channel's name as delete does, and a failed confirmation re-renders
the form with what was typed rather than losing it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import redirect, render_template, request
from werkzeug.wrappers import Response

from rivulet.exceptions import (
    BackendError,
    ChannelNotFoundError,
    InvalidNameError,
    NotSubscribedError,
)
from rivulet.exceptions import TimeoutError as RedisTimeout
from rivulet.names import validate_name

from .backend import admin
from .channel import bp, live_context, messages_context
from .formatting import field_number
from .outcomes import back_to, say, to_top
from .params import FormError, int_field, quoted, seconds_field

#: Values of the subscriber form's ``index`` field besides a message id or a time.
INDEX_POLICIES = ("earliest", "latest")
#: The prune form's fields and their labels on the page.
PRUNE_LABELS = {
    "upto_id": "Up to and including id",
    "older_than": "Older than (seconds)",
    "keep_last": "Keep only the newest",
}
NOTHING_TO_PRUNE = (
    "Fill in “Up to and including id”, “Older than (seconds)” or “Keep only the newest”, "
    "or tick “Read by every subscriber”: prune needs at least one."
)
_DIGITS = re.compile(r"^\d+$")


def _error_text(error: Exception) -> str:
    """An error's message, quoting at most a short prefix of the name it refuses."""
    text = str(error)
    if isinstance(error, InvalidNameError) and isinstance(error.name, str):
        text = text.replace(repr(error.name), quoted(error.name))
    return text


class _Gone(Exception):
    """The action worked and left no channel to go back to."""


def _act(name: str, action: Callable[[], str | Response], form_id: str) -> Response:
    """Run a form's action; flash its outcome or its error beside the form
    (``form_id``) and go back to the channel, at that outcome. An action may
    answer with a page of its own instead (a preview, a confirmation)."""
    validate_name(name)
    try:
        outcome = action()
        if isinstance(outcome, Response):
            return outcome
        say(outcome, "ok", form_id)
    except _Gone as done:
        say(str(done), "ok")
        return redirect(to_top("overview.index"), code=303)
    except ChannelNotFoundError:
        say(f"There is no channel {quoted(name)} (deleted meanwhile?).", "error")
        return redirect(to_top("overview.index"), code=303)
    except (FormError, NotSubscribedError, ValueError, TypeError) as error:
        say(_error_text(error), "error", form_id)
    except BackendError as error:
        if isinstance(error, RedisTimeout):
            raise  # Redis not answering: the 503 page, as for any page
        # Redis answered and refused (full under maxmemory, a key of the
        # wrong type): the change was not made; say so beside the form.
        say(f"Not changed: {_error_text(error)}", "error", form_id)
    return redirect(back_to("channel.page", form_id, name=name), code=303)


def _page(template: str, status: int = 200, **context: Any) -> Response:
    return Response(render_template(template, **context), status, mimetype="text/html")


def channel_page(name: str, status: int = 200, **extra: Any) -> Response:
    """The whole channel page, e.g. with a form's typed values kept after a mistake."""
    context = live_context(name)
    context.update(messages_context(name, context["info"]))
    context.update(extra)
    return _page("channel.html", status, **context)


@bp.post("/<seg:name>/post")
def post(name: str) -> Response:
    def action() -> str:
        # Browsers send a textarea's line breaks as CRLF; the person typed LF.
        if "data" not in request.form:
            raise FormError("the form has no data field")
        data = request.form["data"].replace("\r\n", "\n")
        src = request.form.get("src", "") or "dashboard"
        message_id = admin().post(name, data, src=src)
        return f"Posted message {message_id:,} as {quoted(src)}."

    return _act(name, action, "post-form")


def _prune_criteria() -> dict[str, Any]:
    form = request.form
    criteria = {
        "upto_id": int_field(form, "upto_id", PRUNE_LABELS["upto_id"]),
        "older_than": seconds_field(form, "older_than", PRUNE_LABELS["older_than"]),
        "consumed": form.get("consumed") == "1",
        "keep_last": int_field(form, "keep_last", PRUNE_LABELS["keep_last"]),
    }
    if (criteria["upto_id"] is None and criteria["older_than"] is None
            and not criteria["consumed"] and criteria["keep_last"] is None):
        raise FormError(NOTHING_TO_PRUNE)
    return criteria


@bp.post("/<seg:name>/prune")
def prune(name: str) -> Response:
    """Step one: show what the criteria would remove, and a form to confirm it."""

    def action() -> str | Response:
        criteria = _prune_criteria()
        preview = admin().prune_preview(name, **criteria)
        if preview.upto_id is None or preview.count == 0:
            return "Nothing to prune: no stored message meets those criteria."
        return _page("prune_preview.html", name=name, preview=preview, criteria=criteria,
                     unread=sorted(preview.unread.items()), info=admin().channel(name))

    return _act(name, action, "prune-form")


@bp.post("/<seg:name>/prune/confirm")
def prune_confirm(name: str) -> Response:
    """Step two: remove what the preview counted (ids up to its highest) and no more."""

    def action() -> str:
        upto = int_field(request.form, "upto_id")
        if upto is None:
            raise FormError("The confirmation lost its id; preview the prune again.")
        removed = admin().prune(name, upto_id=upto)
        return f"Pruned {removed:,} message{'s' if removed != 1 else ''} (ids up to {upto:,})."

    return _act(name, action, "prune-form")


def _optional_label(value: Any, unit: str) -> str:
    return "no cap" if value is None else f"{value:,} {unit}"


@bp.post("/<seg:name>/retention")
def retention(name: str) -> Response:
    def action() -> str:
        form = request.form
        max_messages = int_field(form, "max_messages", "Keep at most (messages)")
        max_age = seconds_field(form, "max_age", "Keep for at most (seconds)")
        removed = admin().set_retention(name, max_messages=max_messages, max_age=max_age)
        age = "no cap" if max_age is None else f"{max_age:g} s"
        return (f"Retention set: {_optional_label(max_messages, 'messages')}, {age}; "
                f"{removed:,} message{'s' if removed != 1 else ''} removed now.")

    return _act(name, action, "retention-form")


@bp.post("/<seg:name>/history")
def history(name: str) -> Response:
    def action() -> str:
        interval = seconds_field(request.form, "interval", "Sample every (seconds)")
        keep = seconds_field(request.form, "keep", "Keep for (seconds)")
        if interval is None or keep is None:
            raise FormError("Lag history needs both “Sample every” and “Keep for”")
        admin().set_history(name, interval=interval or None, keep=keep)
        if not interval:
            return "Lag history stopped."
        return (f"Lag history: a sample every {field_number(interval)} s, "
                f"kept for {field_number(keep)} s.")

    return _act(name, action, "history-form")


def _index_target(raw: str) -> int | str | tuple[str, str]:
    """What the "New index" field asks for: a policy, an id, or ("at", time)."""
    text = raw.strip()
    if text.lower() in INDEX_POLICIES:
        return text.lower()
    if _DIGITS.match(text):
        return int(text)
    if not text:
        raise FormError("“New index” needs a message id, earliest, latest or a time")
    return ("at", text)


@bp.post("/<seg:name>/subscriber")
def subscriber(name: str) -> Response:
    form = request.form
    # Not stripped: spaces at either end are part of a valid client id.
    client_id = form.get("client_id", "")
    verb = form.get("action", "")

    def move() -> str:
        target = _index_target(form.get("index", ""))
        client = validate_name(client_id, "client id")
        if isinstance(target, tuple):
            index = admin().set_index_at(name, client, target[1])
            return (f"Moved {quoted(client_id)} to index {index:,}, "
                    f"the last message written before {target[1][:40]}.")
        index = admin().set_index(name, client, target)
        return f"Moved {quoted(client_id)} to index {index:,}."

    def remove() -> str | Response:
        client = validate_name(client_id, "client id")
        readers = [s.client_id for s in admin().subscribers(name)]
        if readers == [client]:
            # The last one: leaving deletes the channel and its messages, so
            # ask for the channel's name, as deleting does.
            typed = form.get("confirm")
            if typed != name:
                return _page("remove_last.html", name=name,
                             client_id=client_id, typed=typed or "",
                             info=admin().channel(name))
        if not admin().remove_subscriber(name, client):
            raise FormError(f"{quoted(client_id)} was not subscribed to {quoted(name)}.")
        try:
            admin().channel(name)
        except ChannelNotFoundError:
            raise _Gone(
                f"Removed subscriber {quoted(client_id)}, the last one: "
                f"channel {quoted(name)} is gone."
            ) from None
        return f"Removed subscriber {quoted(client_id)}."

    def unknown() -> str:
        raise FormError("action must be 'move' or 'remove'")

    return _act(name, {"move": move, "remove": remove}.get(verb, unknown), "subscriber-form")


@bp.post("/<seg:name>/delete")
def delete(name: str) -> Response:
    validate_name(name)
    typed = request.form.get("confirm", "")
    if typed != name:
        # Re-rendered, not redirected: the typed name stays in the box and the
        # form's action ends in its outcome's #anchor, so the page opens there.
        # 200, not 400: the page is the form again, and browsers log a 400 as an error.
        return channel_page(name, delete_typed=typed,
                            delete_error="To delete the channel, type its name exactly "
                                         "into the box.")
    if not admin().delete_channel(name):
        say(f"There was no channel {quoted(name)} to delete.", "error")
    else:
        say(f"Deleted channel {quoted(name)}.", "ok")
    return redirect(to_top("overview.index"), code=303)
