"""/metrics's text, written directly, against what prometheus_client's
metric families write for the same rows: byte for byte, hostile names,
unknown values and every kind of float included."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from dashboard.metrics import FAMILIES, exposition
from rivulet import status
from rivulet.lagscan import ChannelLag, SubscriberLag


def reference(rows: list[ChannelLag]) -> bytes:
    """prometheus_client's exposition of the nine families over ``rows``."""

    def gauge(name: str, *labels: str) -> GaugeMetricFamily:
        return GaugeMetricFamily(name, FAMILIES[name], labels=list(labels))

    class Collector:
        def collect(self) -> Any:
            per_channel = [gauge(n, "channel") for n in (
                "rivulet_channel_messages", "rivulet_channel_head_id",
                "rivulet_channel_subscribers", "rivulet_channel_write_rate")]
            per_sub = [gauge(n, "channel", "client") for n in (
                "rivulet_subscriber_lag_messages", "rivulet_subscriber_lag_seconds",
                "rivulet_subscriber_read_rate", "rivulet_subscriber_eta_seconds")]
            judged = gauge("rivulet_subscriber_status", "channel", "client", "status")
            for row in rows:
                values = [row.message_count, row.head_id, row.subscriber_count,
                          row.write_rate]
                for family, value in zip(per_channel, values):
                    if value is not None:
                        family.add_metric([row.name], value)
                for sub in row.subscribers:
                    subs = [sub.lag, sub.lag_seconds, sub.read_rate, sub.eta_s]
                    for family, value in zip(per_sub, subs):
                        if value is not None:
                            family.add_metric([row.name, sub.client_id], value)
                    judged.add_metric([row.name, sub.client_id, sub.status], 1)
            yield from (*per_channel, *per_sub, judged)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector())  # type: ignore[arg-type]
    return bytes(generate_latest(registry))


names = st.text(st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ['q"uote\\d', "new\nline", "back\\slash\\", 'end"'])
counts = st.integers(0, 2**53 - 1)
floats = st.floats(min_value=0, allow_nan=False) | st.sampled_from(
    [0.0, 1e-7, 123456.7, 1234567.0, 1e22, float("inf"), 2.5e-300])
maybe = st.none() | floats


@st.composite
def subscriber(draw: Any, channel: str) -> SubscriberLag:
    return SubscriberLag(channel, draw(names), draw(counts), draw(counts), draw(counts),
                         draw(floats), None, False, draw(st.sampled_from(status.SEVERITY)),
                         draw(maybe), draw(maybe))


@st.composite
def channel(draw: Any) -> ChannelLag:
    name = draw(names)
    subs = draw(st.lists(subscriber(name), max_size=4))
    return ChannelLag(name, draw(counts), draw(counts), draw(counts), subs,
                      write_rate=draw(maybe))


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(channel(), max_size=6))
def test_the_text_is_what_prometheus_client_writes(rows: list[ChannelLag]) -> None:
    assert exposition(rows) == reference(rows)


def test_an_empty_scan_still_describes_every_family() -> None:
    text = exposition([]).decode()
    assert text == reference([]).decode()
    assert text.count("# TYPE ") == len(FAMILIES)
