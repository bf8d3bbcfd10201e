"""The one boundary where Redis replies become Python values, and messages
become packed JSON."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from .exceptions import MessageTooLargeError

log = logging.getLogger("rivulet")

Message = dict[str, Any]


def text(value: Any) -> str:
    """A reply as str, whether or not the connection decodes responses."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def json_literal(value: str) -> str:
    """``value`` as a compact JSON string literal, as the write script splices it."""
    return json.dumps(value, ensure_ascii=False)


def encode_batch(messages: object, max_bytes: int) -> list[str]:
    """Check a write's messages and encode each as a JSON string literal.

    The whole batch is checked before anything is sent, so a refused batch
    leaves nothing behind.
    """
    if isinstance(messages, str):
        batch: Sequence[object] = [messages]
    elif isinstance(messages, (bytes, bytearray)) or not isinstance(messages, Iterable):
        raise TypeError(
            f"messages must be a str or a sequence of str, not {type(messages).__name__}"
        )
    else:
        batch = list(messages)
    encoded = []
    for position, data in enumerate(batch):
        if not isinstance(data, str):
            raise TypeError(
                f"message {position} is a {type(data).__name__}; rivulet carries str only "
                "(encode other data, e.g. with json.dumps, first)"
            )
        try:
            size = len(data.encode("utf-8"))
        except UnicodeEncodeError as error:
            raise ValueError(f"message {position} is not valid Unicode text: {error}") from None
        if size > max_bytes:
            raise MessageTooLargeError(
                f"message {position} is {size} bytes of UTF-8, over the limit of {max_bytes}",
                size=size,
                limit=max_bytes,
            )
        encoded.append(json_literal(data))
    return encoded


def decode_message(member: Any, channel: str) -> Message | None:
    """A stored member as a message dict; None (and a warning) when malformed."""
    try:
        message: Message = json.loads(member)
        if not _is_message(message):
            raise ValueError("not a rivulet message object")
    except ValueError as error:
        log.warning("skipping malformed message in channel %r: %s: %.80r",
                    channel, error, text(member))
        return None
    return message


def _is_message(value: Any) -> bool:
    return (type(value) is dict and type(value.get("data")) is str
            and type(value.get("id")) is int)


def decode_messages(members: list[Any], channel: str) -> list[Message]:
    """Stored members as message dicts, oldest first, malformed ones skipped.

    A drain of hundreds of members is parsed as one JSON array (half the
    client CPU of one ``json.loads`` each); anything unexpected falls back
    to member by member.
    """
    if not members:
        return []
    try:
        if isinstance(members[0], bytes):
            joined: bytes | str = b"[" + b",".join(members) + b"]"
        else:
            joined = "[" + ",".join(members) + "]"
        messages = json.loads(joined)
        if len(messages) == len(members) and all(_is_message(m) for m in messages):
            return list(messages)
    except (ValueError, TypeError):
        pass
    return [m for m in (decode_message(member, channel) for member in members) if m is not None]


#: 9999-12-31T23:59:59.999Z: a later "ts" cannot be shown as a date.
MAX_TS_MS = 253_402_300_799_999


def decode_for_display(member: Any, message_id: Any) -> Message:
    """A stored member for inspection: malformed ones (including a ``ts`` that
    is no time) are shown with ``malformed: True``, not skipped."""
    raw = text(member)
    try:
        message = json.loads(raw)
        if (isinstance(message, dict) and isinstance(message.get("data"), str)
                and type(message.get("ts")) is int and 0 <= message["ts"] <= MAX_TS_MS):
            message["id"] = int(float(message_id))
            return message
    except ValueError:
        pass
    return {"id": int(float(message_id)), "ts": None, "src": None, "data": raw, "malformed": True}


def pairs(flat: Sequence[Any]) -> list[tuple[Any, Any]]:
    """``[a, 1, b, 2]`` as ``[(a, 1), (b, 2)]``."""
    return list(zip(flat[0::2], flat[1::2]))
