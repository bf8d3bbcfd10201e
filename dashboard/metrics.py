"""``/metrics`` in Prometheus text format, written directly from :meth:`rivulet.Admin.lag_scan`.

Each scrape reads every channel and subscriber in a constant number of round
trips (the registry, then one compact script per channel in one pipeline).
The exposition text is written here rather than through prometheus_client's
metric families: at 10,000 channels x 5 subscribers its per-sample objects
and formatting were most of the scrape. The text is the one
``prometheus_client.generate_latest`` wrote (a test holds them equal); the
content type is still prometheus_client's. Scrapes that arrive while one is
being collected share its result (:mod:`dashboard.shared`).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, current_app
from flask.blueprints import BlueprintSetupState
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.utils import floatToGoString
from werkzeug.wrappers import Response

from rivulet import Admin
from rivulet.lagscan import ChannelLag, SubscriberLag

from .backend import admin
from .shared import SingleFlight

bp = Blueprint("metrics", __name__)
SOURCE_KEY = "rivulet.metrics"
FLIGHT_KEY = "rivulet.metrics.flight"

#: name -> help text, in the order they are written.
FAMILIES = {
    "rivulet_channel_messages": "Messages stored in the channel.",
    "rivulet_channel_head_id": "Last message id issued in the channel.",
    "rivulet_channel_subscribers": "Subscribers of the channel.",
    "rivulet_subscriber_lag_messages":
        "Messages issued in the channel that the subscriber has not read.",
    "rivulet_subscriber_lag_seconds":
        "Seconds since the head passed the subscriber's index (lag history aware).",
    "rivulet_channel_write_rate":
        "Messages per second written over the status window.",
    "rivulet_subscriber_read_rate":
        "Messages per second the subscriber read over the status window.",
    "rivulet_subscriber_eta_seconds":
        "Seconds until the subscriber catches up at its current pace.",
    "rivulet_subscriber_status":
        "1 for the subscriber's current status (one series per subscriber).",
}


def _label(value: str) -> str:
    """A label value as the text format quotes it."""
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _number(value: float, cache: dict[float, str]) -> str:
    # Most values repeat (0, the same few lags): format each once per scrape.
    text = cache.get(value)
    if text is None:
        text = cache[value] = floatToGoString(value)  # type: ignore[no-untyped-call]
    return text


def exposition(rows: list[ChannelLag]) -> bytes:
    """The scrape's text: nine gauge families, channels in listing order."""
    cache: dict[float, str] = {}
    names = [_label(row.name) for row in rows]
    out: list[str] = []

    def family(name: str) -> None:
        out.append(f"# HELP {name} {FAMILIES[name]}\n# TYPE {name} gauge\n")

    channel_values: list[tuple[str, Callable[[ChannelLag], float]]] = [
        ("rivulet_channel_messages", lambda row: row.message_count),
        ("rivulet_channel_head_id", lambda row: row.head_id),
        ("rivulet_channel_subscribers", lambda row: row.subscriber_count),
    ]
    for metric, value in channel_values:
        family(metric)
        out.extend(f'{metric}{{channel="{name}"}} {_number(value(row), cache)}\n'
                   for name, row in zip(names, rows))
    family("rivulet_channel_write_rate")
    out.extend(f'rivulet_channel_write_rate{{channel="{name}"}} {_number(row.write_rate, cache)}\n'
               for name, row in zip(names, rows) if row.write_rate is not None)
    # Rates and the ETA are left out while unknown (no history across a
    # window, or not catching up), as the API's None.
    subscriber_values: list[tuple[str, Callable[[SubscriberLag], float | None]]] = [
        ("rivulet_subscriber_lag_messages", lambda sub: sub.lag),
        ("rivulet_subscriber_lag_seconds", lambda sub: sub.lag_seconds),
        ("rivulet_subscriber_read_rate", lambda sub: sub.read_rate),
        ("rivulet_subscriber_eta_seconds", lambda sub: sub.eta_s),
    ]
    pairs = [(f'channel="{name}",client="{_label(sub.client_id)}"', sub)
             for name, row in zip(names, rows) for sub in row.subscribers]
    for metric, sub_value in subscriber_values:
        family(metric)
        out.extend(f"{metric}{{{labels}}} {_number(got, cache)}\n"
                   for labels, sub in pairs if (got := sub_value(sub)) is not None)
    # Only the current status, not all seven as 0/1: a state set's usual
    # shape would be 7 x 50,000 series at 10,000 channels x 5 subscribers,
    # and `count by (status)` in the shipped dashboard counts these as they are.
    family("rivulet_subscriber_status")
    out.extend(f'rivulet_subscriber_status{{{labels},status="{_label(sub.status)}"}} 1.0\n'
               for labels, sub in pairs)
    return "".join(out).encode("utf-8")


@bp.record_once
def _setup(state: BlueprintSetupState) -> None:
    source: Callable[[], Admin] = admin
    state.app.extensions[SOURCE_KEY] = source
    state.app.extensions[FLIGHT_KEY] = SingleFlight[bytes]()


@bp.get("/metrics")
def metrics() -> Response:
    source: Callable[[], Admin] = current_app.extensions[SOURCE_KEY]
    flight: SingleFlight[bytes] = current_app.extensions[FLIGHT_KEY]
    body = flight.run("metrics", lambda: exposition(source().lag_scan()))
    return Response(body, content_type=CONTENT_TYPE_LATEST)
