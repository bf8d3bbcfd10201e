"""The dashboard's server time and Redis round trips at 10,000 channels.

    python -m bench.dashboard [--quick] [--json | --rst] [--redis-url URL]

Fills a throwaway redis-server through the library (10,000 channels x 5 subscribers
x 20 messages, plus one channel with 1,000 subscribers) and requests pages through
Flask's test client, with token auth on and an ``Authorization: Bearer`` header as a
script would send.  The time is the whole request inside the app (routing, auth,
Redis, templates), without a network or WSGI server in front.

Round trips are counted exactly (``bench/_roundtrips.py``) for one request of each
page at two sizes: the overview at 50 and 1,000 rows a page (sorted by name, and sorted
by lag or status from a fresh full scan), a channel page with 5 and
with 1,000 subscribers, and ``/metrics`` over a small second database (db + 1, 50
channels) and over the full one.
Exit status 1 means some call made more round trips at one size than at the other.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

if __package__ in (None, ""):  # run as `python bench/dashboard.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _populate
from bench._meter import Measured, Meter, scale_main
from bench._roundtrips import counting_redis

TOKEN = "bench-token"  # a throwaway token for the test client


@dataclass(frozen=True)
class Config:
    channels: int
    subscribers: int
    messages: int
    wide_subscribers: int
    small_channels: int
    repeats: int
    metrics_repeats: int


DEFAULT = Config(channels=10_000, subscribers=5, messages=20, wide_subscribers=1000,
                 small_channels=50, repeats=20, metrics_repeats=3)
QUICK = Config(channels=2_000, subscribers=5, messages=20, wide_subscribers=1000,
               small_channels=50, repeats=5, metrics_repeats=1)


def other_db(url: str) -> str:
    """The same server's next database (the small data set lives there)."""
    parts = urlsplit(url)
    db = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{db + 1}"))


class Site:
    """One dashboard app whose Admin counts its round trips."""

    def __init__(self, url: str, page_size: int = 50) -> None:
        import rivulet
        from dashboard import backend, create_app

        self.redis, trips = counting_redis(url)
        self.meter = Meter(url, trips)
        self.admin = rivulet.Admin(self.redis, retry=backend.PAGE_RETRY)
        app = create_app({"TESTING": True, "REDIS_URL": url, "ADMIN": self.admin,
                          "DASHBOARD_TOKEN": TOKEN, "PAGE_SIZE": page_size})
        self.app = app
        self.client = app.test_client()

    def get(self, path: str) -> Callable[[], bytes]:
        def call() -> bytes:
            response = self.client.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
            if response.status_code != 200:
                raise RuntimeError(f"GET {path}: {response.status_code}")
            return response.get_data()
        return call

    def get_cold(self, path: str) -> Callable[[], bytes]:
        """``get``, with the sorted listing's scan cache emptied first: the
        first sorted page a browser asks for after the refresh interval."""
        fetch = self.get(path)

        def call() -> bytes:
            self.app.extensions["rivulet.listing.scan"]._scans.clear()
            return fetch()
        return call

    def close(self) -> None:
        self.meter.close()
        self.admin.close()
        self.redis.close()


def rows_of(count: int) -> Callable[[bytes], int]:
    return lambda _body: count


def run(url: str, cfg: Config, keep_data: bool) -> tuple[list[Measured], dict[str, Any]]:
    small_url = other_db(url)
    data = _populate.populate(url, cfg.channels, cfg.subscribers, cfg.messages,
                              cfg.wide_subscribers)
    small = _populate.populate(small_url, cfg.small_channels, cfg.subscribers, cfg.messages)
    total = len(data.channels) + 1
    sites = [Site(url), Site(url, page_size=1000), Site(small_url)]
    site, big_pages, small_site = sites
    narrow = data.channels[len(data.channels) // 2]
    wide = data.wide_channel or narrow
    few = cfg.metrics_repeats
    try:
        results = [
            site.meter.measure("overview, first page (50 rows)", site.get("/"), rows_of(50),
                               cfg.repeats, group="overview"),
            big_pages.meter.measure("overview, first page (1,000 rows)", big_pages.get("/"),
                                    rows_of(1000), max(3, cfg.repeats // 4), group="overview"),
            site.meter.measure(f"overview sorted by lag, first page (50 rows), {total:,} "
                               "channels scanned", site.get_cold("/?sort=lag"), rows_of(50),
                               max(3, cfg.repeats // 4), group="overview sorted"),
            big_pages.meter.measure("overview sorted by status, first page (1,000 rows), "
                                    "scanned", big_pages.get_cold("/?sort=status"),
                                    rows_of(1000), 3, group="overview sorted"),
            site.meter.measure("overview sorted by lag, from the cached scan",
                               site.get("/?sort=lag"), rows_of(50), cfg.repeats),
            site.meter.measure("overview problems only, scanned",
                               site.get_cold("/?problems=1"), rows_of(50),
                               max(3, cfg.repeats // 4)),
            site.meter.measure(f"channel page, {cfg.wide_subscribers:,} subscribers",
                               site.get(f"/channels/{quote(wide, safe='')}"),
                               rows_of(cfg.wide_subscribers), cfg.repeats, group="channel"),
            site.meter.measure(f"channel page, {cfg.subscribers} subscribers",
                               site.get(f"/channels/{quote(narrow, safe='')}"),
                               rows_of(cfg.subscribers), cfg.repeats, group="channel"),
            site.meter.measure("live channel fragment, 1,000 subscribers",
                               site.get(f"/channels/{quote(wide, safe='')}/_live"),
                               rows_of(cfg.wide_subscribers), cfg.repeats),
            small_site.meter.measure(f"/metrics, {cfg.small_channels} channels",
                                     small_site.get("/metrics"), rows_of(cfg.small_channels),
                                     max(3, few), group="metrics"),
            site.meter.measure(f"/metrics, {total:,} channels", site.get("/metrics"),
                               rows_of(total), few, group="metrics"),
        ]
    finally:
        for each in sites:
            each.close()
    if not keep_data:  # a server we did not start: leave it as we found it
        _populate.remove(url, data)
        _populate.remove(small_url, small)
    return results, _populate.describe(data)


def main(argv: list[str] | None = None) -> int:
    return scale_main(argv, "python -m bench.dashboard", (__doc__ or "").split("\n")[0], run,
                      DEFAULT, QUICK)


if __name__ == "__main__":
    sys.exit(main())
