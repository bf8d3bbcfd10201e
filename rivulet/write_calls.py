"""The write script's call and reply: what every writer sends (a client's
writes, the Producer's rounds, an operator's post) and how its answer reads."""

from __future__ import annotations

from typing import Any

from . import keys
from .codec import json_literal
from .exceptions import BackendError
from .wakeup import SPUBLISH


def first_id(reply: Any) -> int:
    """The first id in a write script's reply.

    :raises BackendError: the reply is not a write script's.
    """
    try:
        return write_reply(reply)[0]
    except ValueError as error:
        raise BackendError(str(error)) from None


def write_call(
    channel: str, encoded: list[str], *, mode: str, writer: str, src: str, token: str,
    publish: str = SPUBLISH,
) -> tuple[list[str], list[str]]:
    """Keys and arguments of one write-script call for pre-encoded messages.

    The caller draws ``token`` once per call and every retry of the call
    reuses it, so a write whose reply was lost is not stored twice. The
    script remembers each writer's last token per channel. ``publish`` is
    the server's wake-up command (:class:`rivulet.wakeup.Publisher`); the
    script falls back to PUBLISH where SPUBLISH is missing, so the default
    is right everywhere, only slower on Redis 6.2.
    """
    return (keys.write_keys(channel),
            [mode, writer, json_literal(src), keys.wake_channel(channel), publish, token,
             *encoded])


#: How many of write_call()'s arguments come before the token: the same for
#: every call of one writer on one channel, so the fast path packs them once.
WRITE_FIXED_ARGS = 5


def write_reply(reply: Any) -> tuple[int, bool]:
    """The write script's reply as ``(first id, duplicate)``: a retried
    token is answered with minus the first id it was given.

    :raises ValueError: the reply is not a write script's (a foreign script
        under its sha, a proxy's garbage, a stale reply read as this one's).
    """
    if isinstance(reply, bool) or not isinstance(reply, int) or reply == 0:
        raise ValueError(f"the write script answered {reply!r}")  # no id is 0
    return (-reply, True) if reply < 0 else (reply, False)
