"""``/metrics`` and the lag scan, today's way against the way before issue 9.

The old way is kept here only to be measured against: prometheus_client's
metric families over :meth:`Admin.channels` and :meth:`Admin.subscribers_many`
(two scripts per channel, a model object per row and per sample).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily


class _OldCollector:
    def __init__(self, admin: Any) -> None:
        self.admin = admin

    def collect(self) -> Iterator[GaugeMetricFamily]:
        channels = self.admin.channels()
        subscribers = self.admin.subscribers_many([c.name for c in channels if c.error is None])
        per_channel = [GaugeMetricFamily(n, n, labels=["channel"]) for n in (
            "rivulet_channel_messages", "rivulet_channel_head_id", "rivulet_channel_subscribers")]
        per_sub = [GaugeMetricFamily(n, n, labels=["channel", "client"]) for n in (
            "rivulet_subscriber_lag_messages", "rivulet_subscriber_lag_seconds")]
        for info in channels:
            per_channel[0].add_metric([info.name], info.message_count)
            per_channel[1].add_metric([info.name], info.head_id)
            per_channel[2].add_metric([info.name], info.subscriber_count)
            for sub in subscribers.get(info.name, []):
                per_sub[0].add_metric([info.name, sub.client_id], sub.lag)
                per_sub[1].add_metric([info.name, sub.client_id], sub.lag_seconds)
        yield from (*per_channel, *per_sub)


def old_metrics(admin: Any) -> bytes:
    """The scrape before issue 9."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_OldCollector(admin))  # type: ignore[arg-type]
    return bytes(generate_latest(registry))


def new_metrics(admin: Any) -> bytes:
    """The scrape now (what ``dashboard.metrics`` serves)."""
    from dashboard.metrics import exposition

    return exposition(admin.lag_scan())


def series(body: bytes) -> int:
    """The samples in an exposition (its lines that are no comment)."""
    return body.count(b"\n") - body.count(b"# ")
