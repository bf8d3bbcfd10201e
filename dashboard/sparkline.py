"""Lag sparklines: small inline SVG charts drawn by the server.

No chart library and no script: the channel page's live fragment carries the
SVG, so a refresh morphs the charts like any other number, and the page works
without JavaScript. The CSP allows no inline style, so lines and dots are
coloured by classes from static/app.css (``spark-*``), never by ``style=``.
Every text that reaches the SVG (a client id in ``<title>``) is escaped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from flask import Flask
from markupsafe import Markup

from rivulet.models import LagSample

from .formatting import count, duration

WIDTH = 120
HEIGHT = 24
#: Room for the stroke at the edges, so a line along the top or bottom shows whole.
PAD = 2


@dataclass(frozen=True)
class Series:
    """One line: its CSS class (``spark-lag``, ``spark-head``) and (ts ms, value) points."""

    css: str
    points: Sequence[tuple[int, int]]


def lag_series(samples: Iterable[LagSample]) -> dict[str, list[tuple[int, int]]]:
    """Each subscriber's (ts, lag) points from ``Admin.history`` rows, oldest first."""
    found: dict[str, list[tuple[int, int]]] = {}
    for s in samples:
        found.setdefault(s.client_id, []).append((s.ts, s.lag))
    return found


def channel_series(samples: Iterable[LagSample]) -> tuple[list[tuple[int, int]],
                                                        list[tuple[int, int]]]:
    """The channel's head and its worst lag at each recorded moment."""
    head: dict[int, int] = {}
    worst: dict[int, int] = {}
    for s in samples:
        head[s.ts] = s.head_id
        worst[s.ts] = max(worst.get(s.ts, 0), s.lag)
    moments = sorted(head)
    return [(t, head[t]) for t in moments], [(t, worst[t]) for t in moments]


def _coords(points: Sequence[tuple[int, int]], t0: int, t1: int) -> list[tuple[float, float]]:
    # Each line on its own scale (head ids and lags differ by orders of
    # magnitude); lags start at 0 so a flat line at the bottom means caught up.
    low = min(0, min(v for _t, v in points))
    high = max(v for _t, v in points)
    span_v = high - low or 1
    span_t = t1 - t0 or 1
    inner_w, inner_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
    return [(PAD + inner_w * (t - t0) / span_t, PAD + inner_h * (1 - (v - low) / span_v))
            for t, v in points]


def sparkline(series: Sequence[Series], label: str, t0: int | None = None,
              t1: int | None = None) -> Markup:
    """An inline SVG of ``series`` over [t0, t1] (ms; the points' own span by
    default, so several charts on one page can share a time axis).

    ``label`` names the chart for screen readers and as a tooltip; it is
    escaped like every other text. No points: a "no history" note instead of
    an empty box. One point: a dot, since a line needs two.
    """
    drawn = [s for s in series if s.points]
    if not drawn:
        return Markup('<span class="spark spark-empty hint">no history</span>')
    times = [t for s in drawn for t, _v in s.points]
    start = min(times) if t0 is None else min(t0, min(times))
    end = max(times) if t1 is None else max(t1, max(times))
    # Markup.format escapes every argument: labels and classes cannot break out.
    parts = [
        Markup('<svg class="spark" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img"'
               ' preserveAspectRatio="none" aria-label="{label}"><title>{label}</title>').format(
                   w=WIDTH, h=HEIGHT, label=label),
    ]
    for s in drawn:
        coords = _coords(s.points, start, end)
        if len(coords) == 1:
            x, y = coords[0]
            parts.append(Markup('<circle class="spark-dot {}" cx="{:.1f}" cy="{:.1f}" r="2"/>')
                         .format(s.css, x, y))
        else:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            parts.append(Markup('<polyline class="spark-line {}" points="{}"/>')
                         .format(s.css, path))
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def _span(points: Sequence[tuple[int, int]]) -> str:
    return duration((points[-1][0] - points[0][0]) / 1000) if len(points) > 1 else "one sample"


def subscriber_spark(client_id: str, points: Sequence[tuple[int, int]],
                     t0: int | None = None, t1: int | None = None) -> Markup:
    """One subscriber's lag over the history."""
    if not points:
        return sparkline([], "")
    lags = [v for _t, v in points]
    label = (f"Lag of {client_id} over {_span(points)}: now {count(lags[-1])}, "
             f"peak {count(max(lags))}")
    return sparkline([Series("spark-lag", points)], label, t0, t1)


def channel_spark(head: Sequence[tuple[int, int]], worst: Sequence[tuple[int, int]],
                  t0: int | None = None, t1: int | None = None) -> Markup:
    """The channel's head (writes) against its worst lag, each on its own scale."""
    if not head:
        return sparkline([], "")
    label = (f"Head {count(head[0][1])} → {count(head[-1][1])} and worst lag "
             f"(now {count(worst[-1][1])}, peak {count(max(v for _t, v in worst))}) "
             f"over {_span(head)}")
    return sparkline([Series("spark-head", head), Series("spark-lag", worst)], label, t0, t1)


def rate(per_s: float | None) -> str:
    """Messages per second, "N/s" with a sensible precision; "—" when unknown."""
    if per_s is None:
        return "—"
    if per_s >= 100:
        return f"{count(round(per_s))}/s"
    if per_s >= 10:
        return f"{per_s:.0f}/s"
    return f"{per_s:.1f}/s" if per_s >= 0.1 or per_s == 0 else "< 0.1/s"


def init_app(app: Flask) -> None:
    app.jinja_env.globals["subscriber_spark"] = subscriber_spark
    app.jinja_env.globals["channel_spark"] = channel_spark
    app.jinja_env.filters["rate"] = rate
