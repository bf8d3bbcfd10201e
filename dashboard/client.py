"""One client: the channels it reads, its index, lag and status in each, and
the operator's forms (move, remove, remove everywhere).

Like the channel page's forms, each posts, redirects (303) and flashes what
happened. Removing a channel's last subscriber deletes the channel and its
messages, so that asks for the channel's name, as delete does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, redirect, render_template, request
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response

from rivulet.exceptions import ChannelNotFoundError, InvalidNameError, NotSubscribedError
from rivulet.models import SubscriberInfo, now_ms
from rivulet.names import validate_name

from .backend import admin
from .channel_actions import INDEX_POLICIES
from .outcomes import back_to, say, to_top
from .params import FormError, int_field, quoted
from .status import subscriber_status, worst

bp = Blueprint("client", __name__, url_prefix="/clients")


@dataclass(frozen=True)
class Subscription:
    """One of the client's channels: its row there, its status, and whether it
    is that channel's last reader (removing it would delete the channel)."""

    sub: SubscriberInfo
    status: str
    last: bool


def client_context(client_id: str) -> dict[str, Any]:
    """The client's subscriptions, by channel."""
    validate_name(client_id, "client id")
    at = now_ms()
    rows = []
    for subscribers in admin().client_subscribers(client_id).values():
        own = next(s for s in subscribers if s.client_id == client_id)
        rows.append(Subscription(own, subscriber_status(own, at), len(subscribers) == 1))
    return {
        "client_id": client_id,
        "rows": rows,
        "status": worst(r.status for r in rows),
        "last_channels": [r.sub.channel for r in rows if r.last],
        "at_ms": at,
    }


@bp.get("/<seg:client_id>")
def page(client_id: str) -> str:
    context = client_context(client_id)
    if not context["rows"]:
        raise NotFound(f"No channel has a subscriber {quoted(client_id)}.")
    return render_template("client.html", **context)


@bp.get("/<seg:client_id>/_live")
def live_fragment(client_id: str) -> str:
    return render_template("_client.html", **client_context(client_id))


def _act(client_id: str, action: Callable[[], str], form_id: str) -> Response:
    """Run a form's action and go back to the client with its outcome or its
    error beside the form (``form_id``), or to the clients list, outcome on
    top, when it reads nothing any more."""
    validate_name(client_id, "client id")
    try:
        kind, text = "ok", action()
    except ChannelNotFoundError as error:
        kind, text = "error", f"There is no channel {quoted(error.channel)} (deleted meanwhile?)."
    except (FormError, NotSubscribedError, InvalidNameError, ValueError, TypeError) as error:
        kind, text = "error", str(error)
        if isinstance(error, InvalidNameError) and isinstance(error.name, str):
            text = text.replace(repr(error.name), quoted(error.name))
    if not admin().client_subscribers(client_id):
        say(text, kind)
        return redirect(to_top("clients.index"), code=303)
    say(text, kind, form_id)
    return redirect(back_to("client.page", form_id, client_id=client_id), code=303)


def _channel_field() -> str:
    # Not stripped: spaces at either end are part of a valid channel id.
    return validate_name(request.form.get("channel", ""))


def _confirm_last(client_id: str, channel: str) -> None:
    """Refuse to delete a channel by removing its last reader unless its name was typed."""
    subscribers = admin().subscribers(channel)
    if [s.client_id for s in subscribers] == [client_id] and \
            request.form.get("confirm", "") != channel:
        raise FormError(
            f"{quoted(client_id)} is the last subscriber of {quoted(channel)}: removing it "
            "deletes the channel and its messages. Type the channel's name to confirm."
        )


@bp.post("/<seg:client_id>/move")
def move(client_id: str) -> Response:
    def action() -> str:
        channel = _channel_field()
        raw = request.form.get("index", "").strip().lower()
        target: int | str
        if raw in INDEX_POLICIES:
            target = raw
        else:
            number = int_field(request.form, "index")
            if number is None:
                raise FormError("index must be a message id, 'earliest' or 'latest'")
            target = number
        index = admin().set_index(channel, client_id, target)
        return f"Moved {quoted(client_id)} in {quoted(channel)} to index {index:,}."

    return _act(client_id, action, "move-form")


@bp.post("/<seg:client_id>/remove")
def remove(client_id: str) -> Response:
    def action() -> str:
        channel = _channel_field()
        _confirm_last(client_id, channel)
        if not admin().remove_subscriber(channel, client_id):
            raise FormError(f"{quoted(client_id)} was not subscribed to {quoted(channel)}.")
        return f"Removed {quoted(client_id)} from {quoted(channel)}."

    return _act(client_id, action, "remove-form")


@bp.post("/<seg:client_id>/remove-all")
def remove_all(client_id: str) -> Response:
    def action() -> str:
        last = client_context(client_id)["last_channels"]
        if last and request.form.get("confirm", "") != client_id:
            raise FormError(
                f"{quoted(client_id)} is the last subscriber of {len(last):,} channel"
                f"{'' if len(last) == 1 else 's'}: removing it everywhere deletes them and "
                "their messages. Type the client id to confirm."
            )
        left = admin().remove_client(client_id)
        return (f"Removed {quoted(client_id)} from {len(left):,} channel"
                f"{'' if len(left) == 1 else 's'}.")

    return _act(client_id, action, "remove-all-form")
