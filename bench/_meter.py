"""Time a call, count its Redis round trips, and read the server's CPU beside it.

Shared by the management API and dashboard benchmarks: each operation is warmed up
once, counted once, then timed ``repeats`` times.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import redis

from bench import _report, _server, _timing
from bench._roundtrips import Trips

T = TypeVar("T")

HEADERS = ["operation", "rows", "median ms", "range ms", "round trips", "commands",
           "client CPU ms", "server CPU ms"]


@dataclass
class Measured:
    """One operation: its rows, every duration, and the round trips of one call."""

    name: str
    rows: int
    durations_s: list[float]
    round_trips: int
    commands: int
    server_cpu_s: float  # per call, averaged over the repeats
    client_cpu_s: float  # per call, averaged over the repeats
    group: str = ""  # calls in one group must make the same number of round trips

    def cells(self) -> list[str]:
        spread = _timing.Spread.of(self.durations_s)
        return [self.name, f"{self.rows:,}", _report.fmt_ms(spread.median),
                f"{_report.fmt_ms(spread.low)}-{_report.fmt_ms(spread.high)}",
                str(self.round_trips), f"{self.commands:,}",
                _report.fmt_ms(self.client_cpu_s), _report.fmt_ms(self.server_cpu_s)]


class Meter:
    """Measures calls made through the client whose round trips ``trips`` counts."""

    def __init__(self, url: str, trips: Trips) -> None:
        self.trips = trips
        self._info = redis.Redis.from_url(url)  # a separate client: its INFO is not counted

    def server_cpu(self) -> float:
        info = self._info.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    def measure(self, name: str, call: Callable[[], T], rows: Callable[[T], int],
                repeats: int, group: str = "") -> Measured:
        call()  # warm: load scripts, open connections
        with self.trips.measure() as one:
            row_count = rows(call())
        server_start = self.server_cpu()
        runs, _ = _timing.repeat(repeats, call)
        # Averaged over the runs: INFO's own cost is noise next to a run's.
        server_cpu = (self.server_cpu() - server_start) / repeats
        client_cpu = sum(r.client_cpu_s for r in runs) / repeats
        return Measured(name, row_count, [r.seconds for r in runs], one.round_trips,
                        one.commands, server_cpu, client_cpu, group)

    def close(self) -> None:
        self._info.close()


def constant_trips(results: list[Measured]) -> bool:
    """True when the calls of each group made the same number of round trips."""
    groups: dict[str, set[int]] = {}
    for m in results:
        if m.group:
            groups.setdefault(m.group, set()).add(m.round_trips)
    return all(len(trips) == 1 for trips in groups.values())


def scale_main(argv: list[str] | None, prog: str, description: str,
               run: Callable[[str, Any, bool], tuple[list[Measured], dict[str, Any]]],
               default: Any, quick: Any) -> int:
    """The command line the 10,000-channel benchmarks share; exit 1 when round
    trips grow with rows."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    _server.add_arguments(parser)
    parser.add_argument("--channels", type=int, help="channels to create (default 10,000)")
    args = parser.parse_args(argv)
    cfg = quick if args.quick else default
    if args.channels:
        cfg = dataclasses.replace(cfg, channels=args.channels)
    with _server.server_from_args(args) as (url, placement):
        env = _report.environment(_server.server_version(url), placement)
        print("populating ...", file=sys.stderr, flush=True)
        results, dataset = run(url, cfg, not args.redis_url)
    rows = [m.cells() for m in results]
    constant = constant_trips(results)
    # {label: {"ratios": [...], "target": x}}: speedups over an older way, per round.
    speedups: dict[str, dict[str, Any]] = dataset.get("speedups", {})
    speedups_met = all(_timing.Spread.of(s["ratios"]).median >= s["target"]
                       for s in speedups.values())
    if args.json:
        _report.print_json({"environment": env, "dataset": dataset,
                            "config": dataclasses.asdict(cfg),
                            "round_trips_constant": constant,
                            "results": [dataclasses.asdict(m) for m in results]})
    elif args.rst:
        print(_report.rst_table(HEADERS, rows))
    else:
        print(f"redis-server {env['redis_server']}, redis-py {env['redis_py']}, Python "
              f"{env['python']}; CPU placement {placement}; {dataset['channels']:,} channels x "
              f"{cfg.subscribers} subscribers x {cfg.messages} messages, one channel with "
              f"{cfg.wide_subscribers:,} subscribers (filled in {dataset['populate_seconds']} s)")
        print(_report.text_table(HEADERS, rows))
        print(f"round trips independent of rows: {'yes' if constant else 'NO'}")
        for label, s in speedups.items():
            spread = _timing.Spread.of(s["ratios"])
            print(f"{label}: {spread.median:.2f}x ({spread.low:.2f}-{spread.high:.2f}), "
                  f"target >= {s['target']:g}x: "
                  f"{'met' if spread.median >= s['target'] else 'MISSED'}")
    return 0 if constant and speedups_met else 1
