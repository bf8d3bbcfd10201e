"""Exceptions raised by rivulet, and the one table that translates redis-py's.

No redis-py exception leaves the public API: :func:`translate` maps each to a
:class:`RivuletError` subclass, keeping the original as ``__cause__``.
"""

from __future__ import annotations

import re

import redis.exceptions as rex


class RivuletError(Exception):
    """Base class of every error rivulet raises."""


class ConnectionError(RivuletError):  # the seed's name; shadows the builtin on purpose
    """Redis could not be reached, and the retry budget is spent."""


class BackendError(RivuletError):
    """Redis answered with an error, or holds data rivulet cannot use."""


class TimeoutError(BackendError):  # the seed's name; shadows the builtin on purpose
    """Redis did not answer in time, and the retry budget is spent."""


class NotSubscribedError(RivuletError):
    """The client is not subscribed to the channel it wants to use."""

    def __init__(self, message: str, channel: str | None = None) -> None:
        super().__init__(message)
        self.channel = channel


class InvalidNameError(RivuletError, ValueError):
    """A channel or client id breaks the naming rules (SPEC section 2)."""

    def __init__(self, message: str, name: object = None) -> None:
        super().__init__(message)
        self.name = name


class MessageTooLargeError(RivuletError, ValueError):
    """A message's data is over the client's ``max_message_bytes``."""

    def __init__(self, message: str, size: int, limit: int) -> None:
        super().__init__(message)
        self.size = size
        self.limit = limit


class NotReplicatedError(RivuletError):
    """A write is stored on the master, but fewer replicas than
    ``wait_replicas`` confirmed it in time: a failover now could lose it."""

    def __init__(self, message: str, ids: list[int], acked: int, wanted: int) -> None:
        super().__init__(message)
        self.ids = ids
        self.acked = acked
        self.wanted = wanted


class ChannelNotFoundError(RivuletError, KeyError):
    """The channel does not exist."""

    def __init__(self, channel: str) -> None:
        super().__init__(channel)
        self.channel = channel

    def __str__(self) -> str:
        return f"channel not found: {self.channel!r}"


# Error replies our Lua scripts raise start with one of these words.
SCRIPT_ERRORS: dict[str, type[RivuletError]] = {
    "RIVULET_NOTSUBSCRIBED": NotSubscribedError,
    "RIVULET_NOCHANNEL": ChannelNotFoundError,
    "RIVULET_RANGE": BackendError,
    "RIVULET_WRONGTYPE": BackendError,
}


def _script_error(error: rex.ResponseError) -> RivuletError | None:
    text = str(error)
    # redis-py may prefix the script's own message with "Error running script ...".
    for prefix, cls in SCRIPT_ERRORS.items():
        at = text.find(prefix)
        if at < 0:
            continue
        detail = text[at + len(prefix):].strip().split(" script:")[0].strip()
        if cls is NotSubscribedError:
            return NotSubscribedError(detail or "not subscribed")
        if cls is ChannelNotFoundError:
            return ChannelNotFoundError(detail)
        return cls(detail)
    return None


#: Where Redis says an error inside a script or function came from: the
#: script's sha or the function's name and a line number (7.x: "... script:
#: 3f2a..., on @user_script:293."; 6.2: "Error running script (call to
#: f_3f2a...): @user_script:293: ..."). No use to a reader of the message,
#: and a script's sha is noise in a dashboard flash; left out of it.
_SCRIPT_PLACE = re.compile(r"\s*script: [^,\s]+, on @user_(?:script|function):\d+\.?"
                           r"|Error running script \(call to f_[0-9a-f]+\): "
                           r"@user_script:\d+: ")


def _reply_text(error: rex.ResponseError) -> str:
    return _SCRIPT_PLACE.sub("", str(error)).strip()


def translate(error: Exception) -> RivuletError:
    """Map a redis-py exception to the rivulet exception that means the same."""
    if isinstance(error, RivuletError):
        return error
    if isinstance(error, rex.TimeoutError):
        return TimeoutError(f"Redis did not answer in time: {error}")
    if isinstance(error, (rex.AuthenticationError, rex.AuthorizationError)):
        return ConnectionError(f"Redis refused the credentials: {error}")
    if isinstance(error, rex.ConnectionError):
        return ConnectionError(f"cannot reach Redis: {error}")
    if isinstance(error, CLUSTER_TRANSIENT):
        return ConnectionError(f"the Redis Cluster is failing over or moving slots: {error}")
    if isinstance(error, rex.ResponseError):
        mapped = _script_error(error)
        if mapped is not None:
            return mapped
        text = _reply_text(error)
        if "WRONGTYPE" in text:
            return BackendError(
                "a key under rvl: holds a value of the wrong type "
                f"(written around the library?): {text}"
            )
        return BackendError(f"Redis refused the command: {text}")
    if isinstance(error, (rex.RedisError, rex.RedisClusterException)):
        return BackendError(f"Redis client error: {error}")
    return BackendError(f"unexpected error talking to Redis: {error!r}")


def _classes(*names: str) -> tuple[type[BaseException], ...]:
    # Feature-detected: redis-py 5.0 lacks some of these.
    return tuple(getattr(rex, n) for n in names if isinstance(getattr(rex, n, None), type))


#: Cluster conditions that pass once the topology settles: a slot moved
#: (MOVED/ASK), a failover under way (CLUSTERDOWN, MASTERDOWN, TRYAGAIN), a
#: slot table that does not cover a slot yet. Matched by class: redis-py strips
#: the error word off the message, so text would not match.
CLUSTER_TRANSIENT = _classes(
    "ClusterDownError", "MasterDownError", "TryAgainError", "MovedError", "AskError",
    "ClusterError", "SlotNotCoveredError", "BusyLoadingError",
)


def is_transient(error: BaseException) -> bool:
    """True for failures worth retrying: a dropped link, a restarting server,
    a cluster failing over or moving a slot. Refused credentials are not:
    they stay refused however long we wait."""
    if isinstance(error, (rex.AuthenticationError, rex.AuthorizationError)):
        return False
    if isinstance(error, (rex.ConnectionError, rex.TimeoutError, *CLUSTER_TRANSIENT)):
        return True
    # A server or proxy that redis-py does not map to a class (LOADING is
    # BusyLoadingError above): the reply's first word, where it is kept.
    return isinstance(error, rex.ResponseError) and str(error).startswith(
        ("LOADING", "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN")
    )
