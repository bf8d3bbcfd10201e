"""The one boundary where Redis replies become Python values, and messages
become packed JSON."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from .exceptions import MessageTooLargeError

log = logging.getLogger("rivulet")

Message = dict[str, Any]


def text(value: Any) -> str:
    """A reply as str, whether or not the connection decodes responses."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


#: What ``json.dumps(value, ensure_ascii=False)`` does for a str, without
#: building an encoder per call (the C function when available).
_encode_str: Any = json.encoder.encode_basestring


def json_literal(value: str) -> str:
    """``value`` as a compact JSON string literal, as the write script splices it."""
    return str(_encode_str(value))


def encode_batch(messages: object, max_bytes: int) -> list[str]:
    """Check a write's messages and encode each as a JSON string literal.

    The whole batch is checked before anything is sent, so a refused batch
    leaves nothing behind.
    """
    if isinstance(messages, str):
        # The common single write: checked and encoded without the loop.
        size = _utf8_size(messages, 0)
        if size > max_bytes:
            raise _too_large(0, size, max_bytes)
        return [_encode_str(messages)]
    if isinstance(messages, (bytes, bytearray)) or not isinstance(messages, Sequence):
        # A dict or set would be written as its keys, in no order the caller chose.
        raise TypeError(
            f"messages must be a str or a sequence of str, not {type(messages).__name__}"
        )
    batch: Sequence[object] = list(messages)
    encoded = []
    for position, data in enumerate(batch):
        if not isinstance(data, str):
            raise TypeError(
                f"message {position} is a {type(data).__name__}; rivulet carries str only "
                "(encode other data, e.g. with json.dumps, first)"
            )
        size = _utf8_size(data, position)
        if size > max_bytes:
            raise _too_large(position, size, max_bytes)
        encoded.append(_encode_str(data))
    return encoded


def _utf8_size(data: str, position: int) -> int:
    if data.isascii():
        return len(data)  # no copy for the common case
    try:
        return len(data.encode("utf-8"))
    except UnicodeEncodeError as error:
        raise ValueError(f"message {position} is not valid Unicode text: {error}") from None


def _too_large(position: int, size: int, max_bytes: int) -> MessageTooLargeError:
    return MessageTooLargeError(
        f"message {position} is {size} bytes of UTF-8, over the limit of {max_bytes}",
        size=size,
        limit=max_bytes,
    )


def decode_message(member: Any, message_id: int, channel: str) -> Message | None:
    """A stored member as a message dict; None (and a warning) when malformed.

    ``message_id`` is the member's score: the id the index moves by, so the
    message carries it whatever ``id`` its JSON claims.
    """
    try:
        message: Message = json.loads(member)
        if not _is_message(message):
            raise ValueError("not a rivulet message object")
    except ValueError as error:
        log.warning("skipping malformed message %d in channel %r: %s: %.80r",
                    message_id, channel, error, text(member))
        return None
    message["id"] = message_id
    return message


def _is_message(value: Any) -> bool:
    return type(value) is dict and type(value.get("data")) is str


def ids_of(runs: Sequence[Any]) -> list[int]:
    """``[first, count, first, count, ...]`` (the read script's runs of
    consecutive ids) as the ids, one per member."""
    ids: list[int] = []
    for first, count in zip(runs[0::2], runs[1::2]):
        ids.extend(range(int(first), int(first) + int(count)))
    return ids


def decode_messages(members: Sequence[Any], ids: Sequence[int], channel: str) -> list[Message]:
    """Stored members as message dicts, oldest first, malformed ones skipped;
    each message's ``id`` is its id (score) from ``ids``, whatever its JSON says.

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
            for message, message_id in zip(messages, ids):
                message["id"] = message_id
            return list(messages)
    except (ValueError, TypeError):
        pass
    decoded = (decode_message(m, i, channel) for m, i in zip(members, ids))
    return [m for m in decoded if m is not None]


#: 9999-12-31T23:59:59.999Z: a later "ts" cannot be shown as a date.
MAX_TS_MS = 253_402_300_799_999


def decode_for_display(member: Any, score: Any) -> Message:
    """A stored member for inspection: malformed ones (including a ``ts`` that
    is no time, or a score that is no message id) are shown with
    ``malformed: True``, not skipped.

    A score such as 2.5 or inf (planted around the library) is shown as the
    whole number at or below it, clamped to [0, 2**53 - 1], so pages and
    ``tail`` keep working; the raw score is kept as ``score``.
    """
    raw = text(member)
    value = float(score)
    message_id = display_id(value)
    if message_id == value:
        try:
            message = json.loads(raw)
            if (isinstance(message, dict) and isinstance(message.get("data"), str)
                    and type(message.get("ts")) is int and 0 <= message["ts"] <= MAX_TS_MS):
                message["id"] = message_id
                return message
        except ValueError:
            pass
    shown: Message = {"id": message_id, "ts": None, "src": None, "data": raw, "malformed": True}
    if message_id != value:
        shown["score"] = text(score) if isinstance(score, (bytes, str)) else repr(value)
    return shown


#: The largest id rivulet issues: doubles are exact up to here.
MAX_ID = 2**53 - 1


def display_id(score: float) -> int:
    """A score as the message id to show: 2.5 -> 2, inf -> MAX_ID, -inf -> 0."""
    if score != score or score <= 0:
        return 0
    if score >= MAX_ID:
        return MAX_ID
    return int(score)


def pairs(flat: Sequence[Any]) -> list[tuple[Any, Any]]:
    """``[a, 1, b, 2]`` as ``[(a, 1), (b, 2)]``."""
    return list(zip(flat[0::2], flat[1::2]))
