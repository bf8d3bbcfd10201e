"""Where a subscription starts reading, and the checks on ``read``'s arguments."""

from __future__ import annotations

import enum

#: A timeout longer than this (about 31 years) waits as a negative one does:
#: until a message arrives. Clocks and waits cannot take 10**400 seconds.
MAX_TIMEOUT_S = 1e9


class IndexPolicy(str, enum.Enum):
    """Where a subscription starts reading."""

    EARLIEST = "earliest"  #: before the oldest message still stored
    CURRENT = "current"  #: this client's stored index; with none, as LATEST
    LATEST = "latest"  #: after the newest message: only new messages

    @classmethod
    def parse(cls, value: object) -> IndexPolicy:
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            try:
                return cls(value.lower())
            except ValueError:
                pass
        valid = ", ".join(repr(p.value) for p in cls)
        raise ValueError(f"unknown index policy {value!r}; use one of {valid}")


def checked_timeout(value: object) -> float:
    """``read``'s timeout in seconds: huge ones block, as negative ones do."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"timeout must be a number of seconds, not {type(value).__name__}")
    try:
        seconds = float(value)
    except OverflowError:  # an int past any float: absurdly long, or absurdly negative
        return -1.0
    if seconds != seconds:  # NaN
        raise ValueError("timeout must be a number, not NaN")
    return -1.0 if seconds > MAX_TIMEOUT_S else seconds


def checked_limit(value: object) -> int:
    """``read``'s message_limit, capped at what a Lua number holds exactly."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"message_limit must be an int, not {type(value).__name__}")
    if value < 1:
        raise ValueError(f"message_limit must be at least 1, not {value}")
    return min(value, 2**53 - 1)  # past that Lua would send Redis "1e+17"
