"""Fill a Redis with many channels through rivulet's public API.

Every key is made by the library's own scripts, so the data follows the documented
data model exactly (registries, meta, read times included).  Subscribers read
different amounts so that lags differ from row to row.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import redis

T = TypeVar("T")
PIPELINE_CHUNK = 1000  # channels per subscribe/read pipeline


@dataclass(frozen=True)
class Dataset:
    """What :func:`populate` made."""

    channels: list[str]
    subscribers: int
    messages: int
    wide_channel: str | None
    wide_subscribers: int
    seconds: float


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def populate(
    url: str, channels: int, subscribers: int, messages: int, wide_subscribers: int = 0,
    prefix: str = "bench/",
) -> Dataset:
    """``channels`` channels with ``subscribers`` subscribers and ``messages`` messages
    each, plus (if ``wide_subscribers``) one channel with that many subscribers.

    Subscriber ``j`` of a channel has read ``j * messages // subscribers`` messages
    (subscriber 0 wrote them and read none), so every channel has some lag.
    """
    import rivulet

    start = time.perf_counter()
    r = redis.Redis.from_url(url)
    names = [f"{prefix}ch-{i:05d}" for i in range(channels)]
    payloads = [json.dumps({"seq": k, "reading": 20.5 + k}) for k in range(messages)]
    clients = [rivulet.Client(redis=r, client_id=f"{prefix}sub-{j}") for j in range(subscribers)]
    for client in clients:
        for part in chunks(names, PIPELINE_CHUNK):
            client.subscribe(part, index_policy="earliest")
    if clients and messages:
        for name in names:
            clients[0].write(name, payloads)
        for j, client in enumerate(clients[1:], start=1):
            read_n = j * messages // subscribers
            if read_n:
                client.read(timeout=0, message_limit=read_n)
    wide = None
    if wide_subscribers:
        wide = f"{prefix}wide"
        readers = [rivulet.Client(redis=r, client_id=f"{prefix}wide-{i:04d}")
                   for i in range(wide_subscribers)]
        readers[0].subscribe(wide, index_policy="earliest")
        if messages:
            readers[0].write(wide, payloads)
        for reader in readers[1:]:
            reader.subscribe(wide, index_policy="earliest")
        admin = rivulet.Admin(r)
        for i, reader in enumerate(readers[1:], start=1):
            admin.set_index(wide, reader.client_id, i % (messages + 1))
    r.close()
    return Dataset(names, subscribers, messages, wide, wide_subscribers,
                   time.perf_counter() - start)


def describe(data: Dataset) -> dict[str, Any]:
    return {"channels": len(data.channels) + (1 if data.wide_channel else 0),
            "subscribers_per_channel": data.subscribers, "messages_per_channel": data.messages,
            "wide_channel_subscribers": data.wide_subscribers,
            "populate_seconds": round(data.seconds, 2)}


def remove(url: str, data: Dataset) -> None:
    """Delete what :func:`populate` made (for a server the benchmark did not start)."""
    import rivulet

    admin = rivulet.Admin(url)
    try:
        for name in [*data.channels, *([data.wide_channel] if data.wide_channel else [])]:
            admin.delete_channel(name)
    finally:
        admin.close()
