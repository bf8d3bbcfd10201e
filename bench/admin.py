"""The management API at scale: page, subscriber list and full lag scan.

    python -m bench.admin [--quick] [--json | --rst] [--redis-url URL]

Fills a throwaway redis-server (or ``--redis-url``'s, under ``bench/`` names) through
the library with 10,000 channels x 5 subscribers x 20 messages plus one channel with
1,000 subscribers, then times:

- a 50-row channel page: ``channels(offset, limit=50)`` + ``channel_count()``, at the
  first, a middle and the last page in turn (and ``channel_page``, which does both);
- one channel's subscriber list with 1,000 subscribers (``subscribers``);
- the full lag scan: ``channels()`` with no limit, every channel's row;
- a ``/metrics`` scrape's work (``Admin.lag_scan`` and the exposition text, statuses,
  rates and ETAs included since issue 10);
- both against main at 2eb8200 (``bench/_metrics.py`` runs that commit's code in a
  child process on the same server), in interleaved pairs of rounds. Issue 9's
  targets: the full lag scan >= 3x 2eb8200's, and the scrape >= 5x faster than the
  first release's 2.3 s (at most 0.46 s).

Round trips are counted exactly on the client (see ``bench/_roundtrips.py``), and
shown for two sizes of the same call to show they do not grow with rows.
Exit status 1 means some call made more round trips at one size than at the other,
or a speedup target was missed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python bench/admin.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _metrics, _populate, _timing
from bench._meter import Measured, Meter, scale_main
from bench._roundtrips import counting_redis


@dataclass(frozen=True)
class Config:
    channels: int
    subscribers: int
    messages: int
    wide_subscribers: int
    repeats: int
    scan_repeats: int


DEFAULT = Config(channels=10_000, subscribers=5, messages=20, wide_subscribers=1000,
                 repeats=30, scan_repeats=5)
QUICK = Config(channels=2_000, subscribers=5, messages=20, wide_subscribers=1000,
               repeats=10, scan_repeats=2)


def run(url: str, cfg: Config, keep_data: bool) -> tuple[list[Measured], dict[str, Any]]:
    import rivulet

    data = _populate.populate(url, cfg.channels, cfg.subscribers, cfg.messages,
                              cfg.wide_subscribers)
    r, trips = counting_redis(url)
    admin = rivulet.Admin(r)
    meter = Meter(url, trips)
    total = admin.channel_count()
    offsets = [0, (total // 2) // 50 * 50, max(0, total - 50)]
    turn = iter(range(1 << 62))

    def page(limit: int) -> Callable[[], Sized]:
        def call() -> Sized:
            rows = admin.channels(offset=offsets[next(turn) % 3] if limit == 50 else 0,
                                  limit=limit)
            admin.channel_count()
            return rows
        return call

    def channel_page() -> Sized:
        rows, _total = admin.channel_page(offset=offsets[next(turn) % 3], limit=50)
        return rows

    narrow = data.channels[len(data.channels) // 2]
    few, many = max(3, cfg.repeats // 5), cfg.repeats
    results = [
        meter.measure("channel page: channels(limit=50) + channel_count()", page(50), len,
                      many, group="page"),
        meter.measure("channel page: channel_page(limit=50)", channel_page, len, many),
        meter.measure("same as the first, 10 rows", page(10), len, many, group="page"),
        meter.measure("same as the first, 1,000 rows", page(1000), len, few, group="page"),
    ]
    if data.wide_channel:
        wide = data.wide_channel
        results.append(meter.measure(
            f"subscribers() of a channel with {cfg.wide_subscribers:,}",
            lambda: admin.subscribers(wide), len, many, group="subscribers"))
    results.append(meter.measure(f"subscribers() of a channel with {cfg.subscribers}",
                                 lambda: admin.subscribers(narrow), len, many,
                                 group="subscribers"))
    results.append(meter.measure("full lag scan: channels()", admin.channels, len,
                                 cfg.scan_repeats))
    results.append(meter.measure("/metrics scrape: lag_scan() + exposition",
                                 lambda: _metrics.new_metrics(admin), _metrics.series,
                                 cfg.scan_repeats))
    with _metrics.Baseline(url) as baseline:
        pairs = {"channels": _pairs(baseline, "channels", admin.channels, cfg.scan_repeats),
                 "metrics": _pairs(baseline, "metrics", lambda: _metrics.new_metrics(admin),
                                   cfg.scan_repeats)}
    meter.close()
    admin.close()
    r.close()
    if not keep_data:  # a server we did not start: leave it as we found it
        _populate.remove(url, data)
    dataset = _populate.describe(data)
    ref = _metrics.BASELINE_REF
    scans, scrapes = pairs["channels"], pairs["metrics"]
    first = _metrics.FIRST_RELEASE_METRICS_S
    dataset["speedups"] = {
        f"full lag scan channels(): {ref} {_median(scans[0])} s, now {_median(scans[1])} s; "
        f"now vs {ref}": _ratios(scans, 3.0),
        f"/metrics scrape: {ref} {_median(scrapes[0])} s, now {_median(scrapes[1])} s; "
        f"now vs {ref}": _ratios(scrapes, 1.0),
        f"/metrics scrape now vs the first release's {first} s (<= {first / 5:.2f} s)": {
            "ratios": [first / now for now in scrapes[1]], "target": 5.0,
            "after_s": scrapes[1]},
    }
    return results, dataset


def _pairs(baseline: _metrics.Baseline, call: str, now: Callable[[], Any],
           rounds: int) -> tuple[list[float], list[float]]:
    """Seconds of ``rounds`` baseline calls and as many of ours, alternating
    which goes first."""
    baseline.time(call)  # warm: load its scripts, open its connection
    now()
    before: list[float] = []
    after: list[float] = []
    for turn in range(rounds):
        for side in (("before", "after") if turn % 2 == 0 else ("after", "before")):
            if side == "before":
                before.append(baseline.time(call))
            else:
                after.append(_timing.repeat(1, now)[0][0].seconds)
    return before, after


def _median(seconds: list[float]) -> str:
    return f"{_timing.Spread.of(seconds).median:.3f}"


def _ratios(pair: tuple[list[float], list[float]], target: float) -> dict[str, Any]:
    before, after = pair
    return {"ratios": [b / a for b, a in zip(before, after)], "target": target,
            "before_s": before, "after_s": after}


def main(argv: list[str] | None = None) -> int:
    return scale_main(argv, "python -m bench.admin", (__doc__ or "").split("\n")[0], run,
                      DEFAULT, QUICK)


if __name__ == "__main__":
    sys.exit(main())
