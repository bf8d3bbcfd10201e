"""The management API at scale: page, subscriber list and full lag scan.

    python -m bench.admin [--quick] [--json | --rst] [--redis-url URL]

Fills a throwaway redis-server (or ``--redis-url``'s, under ``bench/`` names) through
the library with 10,000 channels x 5 subscribers x 20 messages plus one channel with
1,000 subscribers, then times:

- a 50-row channel page: ``channels(offset, limit=50)`` + ``channel_count()``, at the
  first, a middle and the last page in turn (and ``channel_page``, which does both);
- one channel's subscriber list with 1,000 subscribers (``subscribers``);
- the full lag scan: ``channels()`` with no limit, every channel's row.

Round trips are counted exactly on the client (see ``bench/_roundtrips.py``), and
shown for two sizes of the same call to show they do not grow with rows.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sized
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python bench/admin.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis

from bench import _populate, _report, _server, _timing
from bench._roundtrips import Trips, counting_redis


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


@dataclass
class Measured:
    """One operation: its rows, every duration, and the round trips of one call."""

    name: str
    rows: int
    durations_s: list[float]
    round_trips: int
    commands: int
    server_cpu_s: float  # per call, averaged
    client_cpu_s: float  # per call, averaged

    def cells(self) -> list[str]:
        spread = _timing.Spread.of(self.durations_s)
        return [self.name, f"{self.rows:,}", _report.fmt_ms(spread.median),
                f"{_report.fmt_ms(spread.low)}-{_report.fmt_ms(spread.high)}",
                str(self.round_trips), f"{self.commands:,}",
                _report.fmt_ms(self.client_cpu_s), _report.fmt_ms(self.server_cpu_s)]


HEADERS = ["operation", "rows", "median ms", "range ms", "round trips", "commands",
           "client CPU ms", "server CPU ms"]


class Meter:
    """Times calls and counts their round trips; reads the server's CPU on the side."""

    def __init__(self, url: str, trips: Trips) -> None:
        self.trips = trips
        self._info = redis.Redis.from_url(url)  # not counted: a separate client

    def server_cpu(self) -> float:
        info = self._info.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    def measure(self, name: str, call: Callable[[], Sized], repeats: int) -> Measured:
        call()  # warm: load scripts, open the connection
        with self.trips.measure() as one:
            rows = len(call())
        server_start = self.server_cpu()
        runs, _ = _timing.repeat(repeats, call)
        # Averaged over the runs: INFO's own cost is noise next to a run's.
        server_cpu = (self.server_cpu() - server_start) / repeats
        client_cpu = sum(r.client_cpu_s for r in runs) / repeats
        return Measured(name, rows, [r.seconds for r in runs], one.round_trips, one.commands,
                        server_cpu, client_cpu)

    def close(self) -> None:
        self._info.close()


def run(url: str, cfg: Config) -> tuple[list[Measured], dict[str, Any]]:
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
    results = [
        meter.measure("channel page: channels(limit=50) + channel_count()", page(50),
                      cfg.repeats),
        meter.measure("channel page: channel_page(limit=50)", channel_page, cfg.repeats),
        meter.measure("same, 10 rows", page(10), cfg.repeats),
        meter.measure("same, 1,000 rows", page(1000), max(3, cfg.repeats // 5)),
    ]
    if data.wide_channel:
        wide = data.wide_channel
        results.append(meter.measure(f"subscribers() of a channel with {cfg.wide_subscribers:,}",
                                     lambda: admin.subscribers(wide), cfg.repeats))
    results.append(meter.measure(f"subscribers() of a channel with {cfg.subscribers}",
                                 lambda: admin.subscribers(narrow), cfg.repeats))
    results.append(meter.measure("full lag scan: channels()", admin.channels, cfg.scan_repeats))
    meter.close()
    admin.close()
    r.close()
    return results, _populate.describe(data)


def constant_trips(results: list[Measured]) -> bool:
    """True when each call made as many round trips at every size measured."""
    pages = {m.round_trips for m in results if m.name.startswith(("channel page: channels",
                                                                  "same,"))}
    subs = {m.round_trips for m in results if m.name.startswith("subscribers()")}
    return len(pages) == 1 and len(subs) <= 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.admin", description=(__doc__ or "").split("\n")[0]
    )
    _server.add_arguments(parser)
    parser.add_argument("--channels", type=int, help="channels to create (default 10,000)")
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else DEFAULT
    if args.channels:
        cfg = Config(**{**asdict(cfg), "channels": args.channels})
    with _server.server_from_args(args) as (url, placement):
        env = _report.environment(_server.server_version(url), placement)
        print("populating ...", file=sys.stderr, flush=True)
        results, dataset = run(url, cfg)
    rows = [m.cells() for m in results]
    constant = constant_trips(results)
    if args.json:
        _report.print_json({"environment": env, "dataset": dataset, "config": asdict(cfg),
                            "round_trips_constant": constant,
                            "results": [asdict(m) for m in results]})
    elif args.rst:
        print(_report.rst_table(HEADERS, rows))
    else:
        print(f"redis-server {env['redis_server']}, redis-py {env['redis_py']}, Python "
              f"{env['python']}; CPU placement {placement}; {dataset['channels']:,} channels x "
              f"{cfg.subscribers} subscribers x {cfg.messages} messages, one channel with "
              f"{cfg.wide_subscribers:,} subscribers (filled in {dataset['populate_seconds']} s)")
        print(_report.text_table(HEADERS, rows))
        print(f"round trips independent of rows: {'yes' if constant else 'NO'}")
    return 0 if constant else 1


if __name__ == "__main__":
    sys.exit(main())
