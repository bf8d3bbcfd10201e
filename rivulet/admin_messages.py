"""The management API's message operations: count, list, prune, retention,
operator posts, and the channel page's search, seek and prune preview."""

from __future__ import annotations

import uuid
from typing import Any

from . import keys, scripts
from . import search as search_mod
from .admin_base import AdminBase, non_negative
from .client import DEFAULT_MAX_MESSAGE_BYTES
from .codec import MAX_ID, Message, decode_for_display, encode_batch
from .exceptions import BackendError, ChannelNotFoundError
from .models import Rows
from .names import validate_name
from .write_calls import write_call, write_reply


class MessagesAdmin(AdminBase):
    """Stored messages of one channel at a time; mixed into :class:`rivulet.Admin`."""

    # -- messages ------------------------------------------------------------

    def count(self, channel: str) -> int:
        """How many messages the channel stores now."""
        channel = validate_name(channel)
        return int(self._with_existence(channel, "count", "zcard", keys.msg_key(channel)))

    def messages(self, channel: str, after_id: int | None = None, before_id: int | None = None,
                 limit: int = 50, newest_first: bool = True) -> Rows[Message]:
        """Stored messages with ``after_id < id < before_id``; malformed members
        come back with ``malformed: True`` and their raw text as ``data``."""
        channel = validate_name(channel)
        after_id = non_negative("after_id", after_id)
        before_id = non_negative("before_id", before_id)
        limit = non_negative("limit", limit)
        # Only scores that can be ids: a member planted at inf or -1 is left
        # out (channel() reports it) rather than shown at an id it is not.
        low = "0" if after_id is None else f"({after_id}"
        high = str(MAX_ID) if before_id is None else f"({before_id}"
        if newest_first:
            rows = self._with_existence(
                channel, "messages", "zrevrangebyscore", keys.msg_key(channel), high, low,
                0, limit, True,
            )
        else:
            rows = self._with_existence(
                channel, "messages", "zrangebyscore", keys.msg_key(channel), low, high,
                0, limit, True,
            )
        return Rows(decode_for_display(member, score) for member, score in rows)

    def prune(self, channel: str, upto_id: int | None = None, older_than: float | None = None,
              consumed: bool = False, keep_last: int | None = None) -> int:
        """Delete messages meeting any criterion; returns how many went.

        ``older_than`` is in seconds and inclusive. The id counter never moves.
        """
        channel = validate_name(channel)
        args = _prune_args(upto_id, older_than, consumed, keep_last)
        return int(self._channel_script(scripts.PRUNE, channel, 3, args, "prune"))

    def set_retention(self, channel: str, max_messages: int | None = None,
                      max_age: float | None = None) -> int:
        """Cap a channel by count and/or age in seconds (None: no cap).
        Applied at once and by every write; returns how many messages went now."""
        channel = validate_name(channel)
        max_messages = non_negative("max_messages", max_messages)
        max_age = non_negative("max_age", max_age, float)
        args = ["" if max_messages is None else max_messages,
                "" if max_age is None else int(max_age * 1000)]
        return int(self._channel_script(scripts.RETENTION, channel, 4, args, "set retention"))

    def post(self, channel: str, data: str, src: str = "dashboard", create: bool = False) -> int:
        """Inject a message as an operator; returns its id. Needs no
        subscription; an unknown channel is refused unless ``create``."""
        channel = validate_name(channel)
        src = validate_name(src, "src")
        if not isinstance(data, str):
            raise TypeError(f"data must be a str, not {type(data).__name__}")
        encoded = encode_batch([data], DEFAULT_MAX_MESSAGE_BYTES)[0]
        write_keys, args = write_call(
            channel, [encoded], mode="create" if create else "exists", writer=src, src=src,
            token=uuid.uuid4().hex, publish=self._call(
                lambda: self._publisher.command(channel), "wake-up probe"),
        )
        batch = scripts.Batch()
        batch.script(scripts.WRITE, write_keys, args)
        if create:
            batch.command("zadd", keys.CHANNELS, {channel: 0})
        try:
            reply = self._run(batch, "post")[0]
        except ChannelNotFoundError:
            raise ChannelNotFoundError(channel) from None
        try:
            return write_reply(reply)[0]
        except ValueError as error:
            raise BackendError(str(error)) from None

    # -- search, seek, previews (the dashboard's channel page) ----------------

    def search(self, channel: str, query: str, before_id: int | None = None,
               limit: int = 25) -> search_mod.SearchPage:
        """Stored messages whose data or src contains ``query`` (ASCII letters
        in either case), newest first, below ``before_id``. One call scans at
        most :data:`rivulet.search.SCAN_BUDGET` messages; go on with
        ``before_id=page.resume`` while it is not None."""
        channel = validate_name(channel)
        before_id = non_negative("before_id", before_id)
        limit = non_negative("limit", limit)
        return search_mod.search(self.redis, self.retry, channel, query, before_id, limit)

    def seek(self, channel: str, at: int | str) -> int | None:
        """The id of the first stored message written at or after ``at`` (ms
        since the epoch, or ISO-8601 text); None when every one is older."""
        channel = validate_name(channel)
        at_ms = search_mod.parse_time_ms(at) if isinstance(at, str) else non_negative("at", at)
        return search_mod.first_id_at_or_after(self.redis, self.retry, channel, at_ms)[0]

    def prune_preview(self, channel: str, upto_id: int | None = None,
                      older_than: float | None = None, consumed: bool = False,
                      keep_last: int | None = None) -> search_mod.PrunePreview:
        """What :meth:`prune` with the same criteria would remove, removing
        nothing; prune ``upto_id=preview.upto_id`` to remove exactly that."""
        channel = validate_name(channel)
        args = _prune_args(upto_id, older_than, consumed, keep_last)
        return search_mod.prune_preview(self.redis, self.retry, channel, args)


def _prune_args(upto_id: int | None, older_than: float | None, consumed: bool,
                keep_last: int | None) -> list[Any]:
    """The prune and prune-preview scripts' arguments, checked (ms for the age)."""
    upto_id = non_negative("upto_id", upto_id)
    older_than = non_negative("older_than", older_than, float)
    keep_last = non_negative("keep_last", keep_last)
    if upto_id is None and older_than is None and not consumed and keep_last is None:
        raise ValueError("prune needs upto_id, older_than, consumed or keep_last")
    return ["" if upto_id is None else upto_id,
            "" if older_than is None else int(older_than * 1000),
            "1" if consumed else "0",
            "" if keep_last is None else keep_last]
