"""The rows the management API returns: plain dataclasses, and a list that
renders as an HTML table in Jupyter (:mod:`.notebook` draws it)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from typing import Any, Generic, TypeVar

T = TypeVar("T")

def now_ms() -> int:
    return int(time.time() * 1000)


@dataclasses.dataclass(frozen=True)
class ChannelInfo:
    """One channel's size, head and worst subscriber lag."""

    name: str
    head_id: int
    message_count: int
    oldest_id: int | None
    newest_id: int | None
    oldest_ts: int | None
    newest_ts: int | None
    subscriber_count: int
    max_lag: int
    #: Time since the head passed the lowest index: the age of the oldest
    #: stored unread message, or longer where history shows that pruning
    #: deleted older unread ones (see SubscriberInfo.lag_seconds).
    max_lag_seconds: float
    last_write_ts: int | None
    max_messages: int | None = None
    max_age: float | None = None
    #: Set when Redis holds something under this channel's keys rivulet cannot use.
    error: str | None = None
    #: The worst of its subscribers' statuses (rivulet.status.SEVERITY).
    status: str = "caught up"
    #: Messages written per second over the Admin's window; None without history.
    write_rate: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def _repr_html_(self) -> str:
        return Rows([self])._repr_html_()


@dataclasses.dataclass(frozen=True)
class SubscriberInfo:
    """One client's read position in one channel.

    ``lag - pending`` messages were pruned before this subscriber read them.
    ``lag_seconds`` is the time since the head passed ``index``: the age of
    the oldest stored unread message when none was pruned unread, else the
    longer time the lag history shows (a retention cap cannot shorten it).
    ``status`` is judged over the Admin's window (SPEC section 8).
    """

    channel: str
    client_id: str
    index: int
    lag: int
    pending: int
    lag_seconds: float
    last_read_ts: int | None
    beyond_head: bool
    #: One of rivulet.status.SEVERITY: caught up, catching up, behind, beyond
    #: head, falling behind, stalled, stopped.
    status: str = "caught up"
    #: Messages this subscriber moved past per second over the window.
    read_rate: float | None = None
    #: Seconds to catch up at the current rates; None unless catching up.
    eta_s: float | None = None

    @property
    def pruned_unread(self) -> int:
        return self.lag - self.pending

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def _repr_html_(self) -> str:
        return Rows([self])._repr_html_()


@dataclasses.dataclass(frozen=True)
class LagSample:
    """One subscriber in one history snapshot: when (ms), its index, the
    head, and the lag (head - index, at least 0) then."""

    ts: int
    client_id: str
    index: int
    head_id: int
    lag: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class ClientInfo:
    """A client id, the channels it reads and its index and lag in each."""

    client_id: str
    channels: dict[str, int]
    lags: dict[str, int] = dataclasses.field(default_factory=dict)
    #: Set when the client's rvl:index: key holds something rivulet cannot use.
    error: str | None = None

    @property
    def max_lag(self) -> int:
        return max(self.lags.values(), default=0)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def _repr_html_(self) -> str:
        return Rows([self])._repr_html_()


class Rows(list[T], Generic[T]):
    """A list of rows (dataclasses, or dicts for messages) that Jupyter shows as
    a table: times as local date-times, durations as the dashboard writes them,
    status as a coloured word, text left-aligned and numbers right-aligned."""

    def __init__(self, rows: Iterable[T] = ()) -> None:
        super().__init__(rows)

    def _repr_html_(self) -> str:
        from .notebook import rows_html

        return rows_html(self)

    def to_pandas(self) -> Any:
        """A ``pandas.DataFrame`` of the rows (pandas is imported only now).

        :raises ImportError: pandas is not installed.
        """
        from .notebook import to_pandas

        return to_pandas(self)
