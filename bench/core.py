"""rivulet's core library against Redis Streams through redis-py, in one interleaved run.

    python -m bench.core [--quick] [--json | --rst] [--redis-url URL]

Starts a throwaway redis-server (free 127.0.0.1 port, no persistence) unless given
``--redis-url``, and measures, alternating rivulet and baseline rounds so machine
drift hits both:

- single writes (one message per call) vs ``XADD``;
- batches of 100 vs 100 pipelined ``XADD`` (``transaction=False``);
- draining reads of 512 vs ``XREAD COUNT 512``; rivulet's reader is the channel's only
  subscriber, so every read also prunes what it consumed (retention, SPEC section 3);
- blocking-read wake-up latency, ``read(timeout=-1)`` vs ``XREAD BLOCK 0``, reader in
  its own process;
- single writes vs the seed's lock-per-message design (SET NX PX + INCR + ZADD + DEL);
- the coalescing ``Producer`` from 4 threads, fire and forget then ``flush()``, vs 4
  threads doing ``XADD``; and each thread waiting on each future vs 4 threads doing
  single writes, a client each (``bench/_producer.py``).

Ratios are rivulet / baseline per pair of rounds (median and range); for latency the
ratio is rivulet p50 / XREAD BLOCK p50, so lower is better there.  The text output
also splits each message's cost into wall time, client CPU and server CPU.  The whole
set runs ``--runs`` times (3 by default, 1 with ``--quick``); the summary gives each
target's ratio over the runs (median of the runs' medians, and their range) and how
many runs met it.  Exit status 1 means a target of issue 9 was missed: its median over
the runs misses it.  ``--placement`` (see
``bench/_server.py``) decides which CPUs the server and the clients run on.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python bench/core.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis

from bench import _producer, _report, _server, _timing
from bench._baselines import LockedChannel, PackedStreams, Streams
from bench._wakeup import Reader


@dataclass(frozen=True)
class Config:
    rounds: int
    single_ops: int
    batches: int
    batch_size: int
    drain_messages: int
    read_count: int
    wake_samples: int
    wake_gap_s: tuple[float, float]
    lock_ops: int
    payload_bytes: int
    producer_threads: int
    producer_ops: int  # per thread


DEFAULT = Config(rounds=6, single_ops=2000, batches=100, batch_size=100,
                 drain_messages=512 * 40, read_count=512, wake_samples=150,
                 wake_gap_s=(0.002, 0.004), lock_ops=1000, payload_bytes=100,
                 producer_threads=4, producer_ops=5000)
QUICK = Config(rounds=2, single_ops=500, batches=20, batch_size=100,
               drain_messages=512 * 10, read_count=512, wake_samples=60,
               wake_gap_s=(0.002, 0.004), lock_ops=300, payload_bytes=100,
               producer_threads=4, producer_ops=1500)


@dataclass(frozen=True)
class Target:
    ratio: float
    higher_is_better: bool = True

    def met(self, ratio: float) -> bool:
        return ratio >= self.ratio if self.higher_is_better else ratio <= self.ratio

    def __str__(self) -> str:
        return f"{'>=' if self.higher_is_better else '<='} {self.ratio:g}x"


# Issue 9's targets (issue 2's were 0.8, 1.4, 2.0 and 1.5 for the first four).
TARGETS = {
    "write": Target(1.2),
    # Within 1.5x of the physical limit: at least 1/1.5 of its rate.
    "write_packed": Target(round(1 / 1.5, 3)),
    "batch": Target(1.6),
    "drain": Target(2.5),
    "wake": Target(1.3, higher_is_better=False),
    # Not a ratio: the wake-up's p99 itself, in milliseconds.
    "wake_p99": Target(3.0, higher_is_better=False),
    "lock": Target(3.0),
    "producer": Target(5.0),
    "producer_wait": Target(1.0),
}


@dataclass
class Result:
    """One line of the table, plus the raw per-round numbers for --json."""

    key: str
    label: str
    baseline: str
    unit: str
    rivulet: str
    other: str
    ratio: _timing.Spread
    target: Target
    raw: dict[str, Any]

    @property
    def met(self) -> bool:
        return self.target.met(self.ratio.median)

    def cells(self) -> list[str]:
        return [self.label, self.baseline, self.unit, self.rivulet, self.other,
                f"{self.ratio.median:.2f}x",
                f"{self.ratio.low:.2f}-{self.ratio.high:.2f}",
                str(self.target), "met" if self.met else "MISSED"]


HEADERS = ["benchmark", "baseline", "unit", "rivulet", "baseline value", "ratio",
           "ratio range", "target", ""]


class Bench:
    """The clients and fresh keys every scenario uses."""

    def __init__(self, url: str, cfg: Config) -> None:
        import rivulet

        self.cfg = cfg
        self.url = url
        self.run = uuid.uuid4().hex[:8]
        self.src = f"bench-{self.run}"
        self.r = redis.Redis.from_url(url, decode_responses=True)
        self.client = rivulet.connect(url, client_id=self.src)
        self.payload = "x" * cfg.payload_bytes
        self._seq = itertools.count()

    def close(self) -> None:
        self.client.close()
        self.r.close()

    def server_cpu(self) -> float:
        """redis-server's CPU seconds so far (all its clients, if it is shared)."""
        info = self.r.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    def fresh_channel(self) -> str:
        channel = f"bench/{self.run}/{next(self._seq)}"
        self.client.subscribe(channel, index_policy="latest")
        return channel

    def leave(self, channel: str, *others: str) -> None:
        """Unsubscribe this client and ``others`` (client ids): the channel is deleted."""
        import rivulet

        for client_id in others:
            rivulet.Client(redis=self.r, client_id=client_id).unsubscribe(channel)
        self.client.unsubscribe(channel)

    def fresh_stream(self) -> Streams:
        return Streams(self.r, f"bench:stream:{self.run}:{next(self._seq)}", self.src)

    def on_channel(self, work: Callable[[str], int]) -> _timing.Throughput:
        """Time ``work`` on a fresh channel, dropped afterwards (its last subscriber leaves)."""
        channel = self.fresh_channel()
        try:
            return _timing.timed(lambda: work(channel), self.server_cpu)
        finally:
            self.client.unsubscribe(channel)

    def on_stream(self, work: Callable[[Streams], int]) -> _timing.Throughput:
        stream = self.fresh_stream()
        try:
            return _timing.timed(lambda: work(stream), self.server_cpu)
        finally:
            stream.delete()


def throughput_result(
    key: str, label: str, baseline: str,
    ours: list[_timing.Throughput], theirs: list[_timing.Throughput],
) -> Result:
    a, b = _timing.rate_spread(ours), _timing.rate_spread(theirs)
    return Result(
        key=key, label=label, baseline=baseline, unit="msg/s",
        rivulet=f"{_report.fmt_rate(a.median)} ({_report.fmt_rate(a.low)}-"
                f"{_report.fmt_rate(a.high)})",
        other=f"{_report.fmt_rate(b.median)} ({_report.fmt_rate(b.low)}-"
              f"{_report.fmt_rate(b.high)})",
        ratio=_timing.ratio_spread(ours, theirs), target=TARGETS[key],
        raw={"rivulet_rates": [t.rate for t in ours], "baseline_rates": [t.rate for t in theirs],
             "rivulet": asdict(a), "baseline": asdict(b),
             "rivulet_us_per_msg": _timing.per_op_us(ours),
             "baseline_us_per_msg": _timing.per_op_us(theirs)},
    )


def bench_write(b: Bench) -> Result:
    n = b.cfg.single_ops

    def ours(channel: str) -> int:
        for _ in range(n):
            b.client.write(channel, b.payload)
        return n

    def theirs(stream: Streams) -> int:
        for _ in range(n):
            stream.xadd(b.payload)
        return n

    a, z = _timing.interleave(lambda: b.on_channel(ours), lambda: b.on_stream(theirs),
                              b.cfg.rounds)
    return throughput_result("write", "single writes (1 msg/call)", "XADD", a, z)


def bench_write_packed(b: Bench) -> Result:
    n = b.cfg.single_ops

    def ours(channel: str) -> int:
        for _ in range(n):
            b.client.write(channel, b.payload)
        return n

    def theirs() -> _timing.Throughput:
        stream = PackedStreams(b.r, f"bench:stream:{b.run}:{next(b._seq)}", b.src)
        try:
            def work() -> int:
                for _ in range(n):
                    stream.xadd(b.payload)
                return n
            return _timing.timed(work, b.server_cpu)
        finally:
            stream.delete()

    a, z = _timing.interleave(lambda: b.on_channel(ours), theirs, b.cfg.rounds)
    return throughput_result("write_packed", "single writes vs the limit",
                             "pre-packed XADD, kept connection", a, z)


def bench_batch(b: Bench) -> Result:
    batch = [b.payload] * b.cfg.batch_size
    total = b.cfg.batches * b.cfg.batch_size

    def ours(channel: str) -> int:
        for _ in range(b.cfg.batches):
            b.client.write(channel, batch)
        return total

    def theirs(stream: Streams) -> int:
        for _ in range(b.cfg.batches):
            stream.xadd_pipelined(batch)
        return total

    a, z = _timing.interleave(lambda: b.on_channel(ours), lambda: b.on_stream(theirs),
                              b.cfg.rounds)
    return throughput_result("batch", f"batches of {b.cfg.batch_size}",
                             f"{b.cfg.batch_size} pipelined XADD", a, z)


def bench_drain(b: Bench) -> Result:
    total, count = b.cfg.drain_messages, b.cfg.read_count
    fill = [b.payload] * count

    def ours() -> _timing.Throughput:
        channel = b.fresh_channel()
        try:
            for _ in range(total // count):
                b.client.write(channel, fill)

            def drain() -> int:
                got = 0
                while got < total:
                    n = len(b.client.read(timeout=0, message_limit=count).get(channel, []))
                    if n == 0:
                        raise RuntimeError(f"rivulet read returned nothing after {got}")
                    got += n
                return got

            return _timing.timed(drain, b.server_cpu)
        finally:
            b.client.unsubscribe(channel)

    def theirs() -> _timing.Throughput:
        stream = b.fresh_stream()
        try:
            for _ in range(total // count):
                stream.xadd_pipelined(fill)

            def drain() -> int:
                got = 0
                while got < total:
                    n = len(stream.xread(count))
                    if n == 0:
                        raise RuntimeError(f"XREAD returned nothing after {got}")
                    got += n
                return got

            return _timing.timed(drain, b.server_cpu)
        finally:
            stream.delete()

    a, z = _timing.interleave(ours, theirs, b.cfg.rounds)
    return throughput_result("drain", f"draining reads of {count}", f"XREAD COUNT {count}",
                             a, z)


def bench_wake(b: Bench) -> list[Result]:
    cfg = b.cfg
    channel = b.fresh_channel()  # the writer must be subscribed to write
    stream = b.fresh_stream()
    reader_id = f"{b.src}-reader"
    ours = Reader("rivulet", b.url, channel, reader_id)
    theirs = Reader("streams", b.url, stream.key, "")

    def write_ours(data: str) -> object:
        return b.client.write(channel, data)

    try:
        a, z = _timing.interleave(
            lambda: ours.measure(write_ours, cfg.wake_samples, cfg.wake_gap_s),
            lambda: theirs.measure(stream.xadd, cfg.wake_samples, cfg.wake_gap_s),
            cfg.rounds,
        )
    finally:
        ours.stop(write_ours)
        theirs.stop(stream.xadd)
        b.leave(channel, reader_id)  # the reader's process is gone; its subscription is not
        stream.delete()
    pooled_a = [x for round_ in a for x in round_]
    pooled_z = [x for round_ in z for x in round_]

    def fmt(samples: list[float]) -> str:
        return (f"p50 {_report.fmt_ms(_timing.percentile(samples, 50))}"
                f" / p99 {_report.fmt_ms(_timing.percentile(samples, 99))}")

    per_pair = _timing.Spread.of([
        _timing.percentile(x, 50) / _timing.percentile(y, 50) for x, y in zip(a, z, strict=True)
    ])
    pooled = _timing.percentile(pooled_a, 50) / _timing.percentile(pooled_z, 50)
    raw = {"rivulet_ms": {q: _timing.percentile(pooled_a, q) * 1000 for q in (50, 90, 99)},
           "baseline_ms": {q: _timing.percentile(pooled_z, q) * 1000 for q in (50, 90, 99)},
           "samples_per_side": len(pooled_a)}
    p99_ms = _timing.Spread.of([_timing.percentile(x, 99) * 1000 for x in a])
    p99 = Result(
        key="wake_p99", label="wake-up p99 (absolute)", baseline="3 ms", unit="ms",
        rivulet=f"{_timing.percentile(pooled_a, 99) * 1000:.2f}", other="3.00",
        ratio=_timing.Spread(_timing.percentile(pooled_a, 99) * 1000, p99_ms.low, p99_ms.high),
        target=TARGETS["wake_p99"], raw=raw,
    )
    return [Result(
        key="wake", label="blocking-read wake-up", baseline="XREAD BLOCK", unit="ms",
        rivulet=fmt(pooled_a), other=fmt(pooled_z),
        ratio=_timing.Spread(pooled, per_pair.low, per_pair.high), target=TARGETS["wake"],
        raw=raw,
    ), p99]


def bench_lock(b: Bench) -> Result:
    n = b.cfg.lock_ops

    def ours(channel: str) -> int:
        for _ in range(n):
            b.client.write(channel, b.payload)
        return n

    def theirs() -> _timing.Throughput:
        locked = LockedChannel(b.r, f"{b.run}/{next(b._seq)}", b.src)
        try:
            def work() -> int:
                for _ in range(n):
                    locked.write(b.payload)
                return n
            return _timing.timed(work, b.server_cpu)
        finally:
            locked.delete()

    a, z = _timing.interleave(lambda: b.on_channel(ours), theirs, b.cfg.rounds)
    return throughput_result("lock", "single writes vs lock design",
                             "SET NX + INCR + ZADD + DEL", a, z)


def bench_producer(b: Bench) -> Result:
    threads, n = b.cfg.producer_threads, b.cfg.producer_ops
    a, z = _producer.fire_and_forget(b, threads, n)
    return throughput_result("producer", f"Producer.send, {threads} threads, then flush",
                             f"{threads} threads of XADD", a, z)


def bench_producer_wait(b: Bench) -> Result:
    threads, n = b.cfg.producer_threads, b.cfg.producer_ops // 5
    a, z = _producer.waiting(b, threads, n)
    return throughput_result("producer_wait", f"send().result(), {threads} threads",
                             f"{threads} threads of single writes", a, z)


COST_HEADERS = ["benchmark", "side", "wall", "client CPU", "server CPU"]


def cost_rows(results: list[Result]) -> list[list[str]]:
    rows = []
    for result in results:
        for side, name in (("rivulet", "rivulet"), ("baseline", result.baseline)):
            cost = result.raw.get(f"{side}_us_per_msg")
            if cost:
                rows.append([result.label, name, *(f"{cost[k]:.1f}" for k in
                                                   ("wall", "client_cpu", "server_cpu"))])
    return rows


SCENARIOS: dict[str, Callable[[Bench], Result | list[Result]]] = {
    "write": bench_write,
    "write_packed": bench_write_packed,
    "batch": bench_batch,
    "drain": bench_drain,
    "wake": bench_wake,
    "lock": bench_lock,
    "producer": bench_producer,
    "producer_wait": bench_producer_wait,
}


@dataclass
class Summary:
    """One target over several runs: each run's median ratio."""

    key: str
    label: str
    target: Target
    ratios: list[float]

    @property
    def spread(self) -> _timing.Spread:
        return _timing.Spread.of(self.ratios)

    @property
    def met(self) -> bool:
        return self.target.met(self.spread.median)

    def cells(self) -> list[str]:
        spread = self.spread
        unit = " ms" if self.key == "wake_p99" else "x"
        met_runs = sum(self.target.met(r) for r in self.ratios)
        return [self.label, f"{spread.median:.2f}{unit}",
                f"{spread.low:.2f}-{spread.high:.2f}{unit}",
                " ".join(f"{r:.2f}" for r in self.ratios),
                str(self.target).replace("x", unit) if unit != "x" else str(self.target),
                f"{met_runs}/{len(self.ratios)}", "met" if self.met else "MISSED"]


SUMMARY_HEADERS = ["target", "median", "range over runs", "each run", "target", "runs met",
                   ""]


def summarise(runs: list[list[Result]]) -> list[Summary]:
    by_key: dict[str, Summary] = {}
    for results in runs:
        for r in results:
            entry = by_key.setdefault(r.key, Summary(r.key, r.label, r.target, []))
            entry.ratios.append(r.ratio.median)
    return list(by_key.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.core", description=(__doc__ or "").split("\n")[0]
    )
    _server.add_arguments(parser)
    parser.add_argument("--only", nargs="+", choices=list(SCENARIOS), help="run only these")
    parser.add_argument("--rounds", type=int, help="interleaved pairs of rounds per benchmark")
    parser.add_argument("--runs", type=int,
                        help="whole runs of the set, for the ranges (default 3, --quick 1)")
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else DEFAULT
    if args.rounds:
        cfg = Config(**{**asdict(cfg), "rounds": args.rounds})
    runs_wanted = args.runs or (1 if args.quick else 3)
    runs: list[list[Result]] = []
    loads: list[float] = []
    with _server.server_from_args(args) as (url, placement):
        env = _report.environment(_server.server_version(url), placement)
        for run in range(runs_wanted):
            loads.append(_report.environment(env["redis_server"], placement)["loadavg_1m"])
            results: list[Result] = []
            b = Bench(url, cfg)
            try:
                for name in args.only or SCENARIOS:
                    print(f"run {run + 1}/{runs_wanted}: {name} ...", file=sys.stderr,
                          flush=True)
                    got = SCENARIOS[name](b)
                    results.extend(got if isinstance(got, list) else [got])
            finally:
                b.close()
            runs.append(results)
    summary = summarise(runs)
    if args.json:
        _report.print_json({
            "environment": env, "config": asdict(cfg), "loadavg_1m_per_run": loads,
            "runs": [[{**{k: v for k, v in asdict(r).items() if k != "target"},
                       "target": str(r.target), "met": r.met} for r in results]
                     for results in runs],
            "summary": [{"key": s.key, "ratios": s.ratios, "median": s.spread.median,
                         "target": str(s.target), "met": s.met} for s in summary],
        })
    elif args.rst:
        print(_report.rst_table([*SUMMARY_HEADERS[:-1], "result"], [s.cells() for s in summary]))
    else:
        print(f"redis-server {env['redis_server']}, redis-py {env['redis_py']}, "
              f"Python {env['python']}, {env['cpus']} CPUs, load {' / '.join(map(str, loads))} "
              f"at each run's start, {cfg.rounds} interleaved rounds per side; CPU placement "
              f"{placement}")
        for number, results in enumerate(runs, 1):
            print(f"\nrun {number} of {len(runs)}")
            print(_report.text_table(HEADERS, [r.cells() for r in results]))
        print("\nwhere the time goes in the last run (median microseconds per message; "
              "CPU includes syscalls)")
        print(_report.text_table(COST_HEADERS, cost_rows(runs[-1])))
        print(f"\nissue 9's targets over {len(runs)} runs")
        print(_report.text_table(SUMMARY_HEADERS, [s.cells() for s in summary]))
    return 0 if all(s.met for s in summary) else 1


if __name__ == "__main__":
    sys.exit(main())
