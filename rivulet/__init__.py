"""rivulet: Redis-based message streaming for Python."""

from __future__ import annotations

from .admin import Admin
from .client import Client, IndexPolicy, connect
from .exceptions import (
    BackendError,
    ChannelNotFoundError,
    ConnectionError,
    InvalidNameError,
    MessageTooLargeError,
    NotReplicatedError,
    NotSubscribedError,
    RivuletError,
    TimeoutError,
)
from .history import HistorySettings
from .models import ChannelInfo, ClientInfo, LagSample, Rows, SubscriberInfo
from .producer import Producer
from .retry import RetryPolicy

__version__ = "0.3.0"

__all__ = [
    "Admin",
    "BackendError",
    "ChannelInfo",
    "ChannelNotFoundError",
    "Client",
    "ClientInfo",
    "ConnectionError",
    "HistorySettings",
    "IndexPolicy",
    "InvalidNameError",
    "LagSample",
    "MessageTooLargeError",
    "NotReplicatedError",
    "NotSubscribedError",
    "Producer",
    "RetryPolicy",
    "RivuletError",
    "Rows",
    "SubscriberInfo",
    "TimeoutError",
    "__version__",
    "connect",
]
