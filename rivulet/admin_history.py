"""The management API's lag history (SPEC section 8): its settings, set and
read, and the recorded snapshots."""

from __future__ import annotations

from typing import Any

from . import history, keys, scripts
from .admin_base import AdminBase, non_negative
from .exceptions import ChannelNotFoundError, RivuletError
from .history import HistorySettings
from .models import LagSample, Rows
from .names import validate_name


class HistoryAdmin(AdminBase):
    """One channel's lag history; mixed into :class:`rivulet.Admin`."""

    def set_history(self, channel: str, interval: float | None = history.DEFAULT_INTERVAL_S,
                    keep: float = history.DEFAULT_KEEP_S) -> None:
        """Record a lag snapshot of ``channel`` at most every ``interval``
        seconds (None: stop recording) and keep them for ``keep`` seconds.

        :raises ChannelNotFoundError: no such channel.
        """
        channel = validate_name(channel)
        mapping = history.settings_mapping(interval, keep)
        found = self.retry.run(lambda: scripts.SET_HISTORY(
            self.redis, [*keys.subscribe_keys(channel), keys.meta_key(channel)],
            [mapping["interval_ms"], mapping["keep_ms"]]), "set history")
        if not int(found):
            raise ChannelNotFoundError(channel)

    def history_settings(self, channel: str) -> HistorySettings:
        """The history settings in force for ``channel``, as the recorder reads
        them: the defaults (10 s, 1 h; ``default=True``) until
        :meth:`set_history` gives it its own, ``interval_s=None`` once recording
        is stopped. A field written around the library that holds no number
        counts as its default, as it does for the recorder. One round trip.

        :raises ChannelNotFoundError: no such channel.
        :raises BackendError: the settings key holds no hash (written around
            the library): the recorder then records nothing, so no setting is
            in force and none is made up.
        """
        found = self._read(channel, None, None, samples=False, settings=True)[1]
        _raise_if_error(found)
        assert isinstance(found, HistorySettings)
        return found

    def history(self, channel: str, client_id: str | None = None,
                since_ts: int | None = None) -> Rows[LagSample]:
        """The recorded snapshots, one row per subscriber per snapshot,
        oldest first; only ``client_id``'s and those at or after ``since_ts``
        (ms) when given.

        :raises ChannelNotFoundError: no such channel.
        """
        return self._read(channel, client_id, since_ts, samples=True, settings=False)[0]

    def history_and_settings(
        self, channel: str,
    ) -> tuple[Rows[LagSample], HistorySettings | RivuletError]:
        """:meth:`history` and :meth:`history_settings` in one round trip (the
        channel page shows both). A settings key Redis cannot read comes back
        as its error in place of the settings, so the snapshots still show.

        :raises ChannelNotFoundError: no such channel.
        """
        rows, found = self._read(channel, None, None, samples=True, settings=True)
        assert found is not None
        return rows, found

    def _read(self, channel: str, client_id: str | None, since_ts: int | None,
              samples: bool, settings: bool,
              ) -> tuple[Rows[LagSample], HistorySettings | RivuletError | None]:
        channel = validate_name(channel)
        since_ts = non_negative("since_ts", since_ts)
        if client_id is not None:
            client_id = validate_name(client_id, "client_id")
        batch = scripts.Batch()
        batch.command("exists", *keys.reader_keys(channel)[:3])
        at_raw = batch.command("lrange", keys.history_key(channel), 0, -1) if samples else None
        at_cfg = batch.command("hmget", keys.history_settings_key(channel),
                               ["interval_ms", "keep_ms"]) if settings else None
        # Not strict: a broken settings key must not hide the snapshots.
        replies = self._run(batch, "history", strict=False)
        _raise_if_error(replies[0])
        if not int(replies[0]):
            raise ChannelNotFoundError(channel)
        rows: Rows[LagSample] = Rows()
        if at_raw is not None:
            _raise_if_error(replies[at_raw])
            rows = _samples(replies[at_raw], client_id, since_ts)
        found: HistorySettings | RivuletError | None = None
        if at_cfg is not None:
            cfg: Any = replies[at_cfg]
            found = cfg if isinstance(cfg, RivuletError) else history.settings_from(*cfg)
        return rows, found


def _raise_if_error(reply: Any) -> None:
    if isinstance(reply, RivuletError):
        raise reply


def _samples(raw: Any, client_id: str | None, since_ts: int | None) -> Rows[LagSample]:
    rows: Rows[LagSample] = Rows()
    for snap in history.parse(raw):
        if since_ts is not None and snap.ts < since_ts:
            continue
        for client, index in sorted(snap.indexes.items()):
            if client_id is None or client == client_id:
                rows.append(LagSample(snap.ts, client, index, snap.head_id,
                                      max(0, snap.head_id - index)))
    return rows
