"""``/metrics`` in Prometheus text format, from a collector over :class:`rivulet.Admin`.

Each scrape reads every channel and subscriber in a constant number of round
trips (two listings, each one pipeline) and exposes them as gauges. Scrapes that
arrive while one is being collected share its result (:mod:`dashboard.shared`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from flask import Blueprint, current_app
from flask.blueprints import BlueprintSetupState
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from werkzeug.wrappers import Response

from rivulet import Admin

from .backend import admin
from .shared import SingleFlight

bp = Blueprint("metrics", __name__)
REGISTRY_KEY = "rivulet.metrics"
FLIGHT_KEY = "rivulet.metrics.flight"


class AdminCollector(Collector):
    """Channel and subscriber gauges, read fresh from Redis on every scrape."""

    def __init__(self, get_admin: Callable[[], Admin]) -> None:
        self.get_admin = get_admin

    def describe(self) -> list[GaugeMetricFamily]:
        # No Redis at registration time: describe without collecting.
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        source = self.get_admin()
        channels = source.channels()
        # A row with an error (e.g. a name registered around the library) has
        # no subscribers to read; the channel gauges still show it.
        subscribers = source.subscribers_many([c.name for c in channels if c.error is None])
        messages = GaugeMetricFamily(
            "rivulet_channel_messages", "Messages stored in the channel.", labels=["channel"]
        )
        heads = GaugeMetricFamily(
            "rivulet_channel_head_id", "Last message id issued in the channel.", labels=["channel"]
        )
        counts = GaugeMetricFamily(
            "rivulet_channel_subscribers", "Subscribers of the channel.", labels=["channel"]
        )
        lag = GaugeMetricFamily(
            "rivulet_subscriber_lag_messages",
            "Messages issued in the channel that the subscriber has not read.",
            labels=["channel", "client"],
        )
        lag_seconds = GaugeMetricFamily(
            "rivulet_subscriber_lag_seconds",
            "Age of the oldest stored message the subscriber has not read.",
            labels=["channel", "client"],
        )
        for info in channels:
            messages.add_metric([info.name], info.message_count)
            heads.add_metric([info.name], info.head_id)
            counts.add_metric([info.name], info.subscriber_count)
            for sub in subscribers.get(info.name, []):
                lag.add_metric([info.name, sub.client_id], sub.lag)
                lag_seconds.add_metric([info.name, sub.client_id], sub.lag_seconds)
        yield from (messages, heads, counts, lag, lag_seconds)


@bp.record_once
def _make_registry(state: BlueprintSetupState) -> None:
    # One registry per app, not prometheus_client's global one.
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AdminCollector(admin))
    state.app.extensions[REGISTRY_KEY] = registry
    state.app.extensions[FLIGHT_KEY] = SingleFlight[bytes]()


@bp.get("/metrics")
def metrics() -> Response:
    registry: CollectorRegistry = current_app.extensions[REGISTRY_KEY]
    flight: SingleFlight[bytes] = current_app.extensions[FLIGHT_KEY]
    body = flight.run("metrics", lambda: generate_latest(registry))
    return Response(body, content_type=CONTENT_TYPE_LATEST)
