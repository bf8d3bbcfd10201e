"""Ranges across several runs of a benchmark, from the files its ``--json`` wrote.

    python -m bench.core --json > bench/results/core-1.json    # ... run it a few times
    python -m bench.summary bench/results/core-*.json [--rst]

Each run reports medians over its own interleaved rounds; this prints, per row,
the lowest and highest of those medians across the runs, and in how many runs a
target was met.  Works for the output of ``bench.core``, ``bench.admin`` and
``bench.dashboard`` (files of different kinds are summarised separately).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python bench/summary.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _report

Run = dict[str, Any]


def span(values: Iterable[float], fmt: Callable[[float], str]) -> str:
    ordered = sorted(values)
    low, high = fmt(ordered[0]), fmt(ordered[-1])
    return low if low == high else f"{low}-{high}"


def placement_of(run: Run) -> str:
    return str(run["environment"].get("placement", "?")).split(" ")[0]


def core_rows(runs: list[Run]) -> tuple[list[str], list[list[str]]]:
    """One row per (placement, benchmark): value and ratio ranges, targets met."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for run in runs:
        for result in run["results"]:
            groups.setdefault((placement_of(run), result["key"]), []).append(result)
    rows = []
    for (placement, _key), results in groups.items():
        first = results[0]
        raw = [r["raw"] for r in results]
        if "rivulet_ms" in raw[0]:  # latency: p50 and p99 in ms
            def lat(side: str, raw: list[dict[str, Any]] = raw) -> str:
                return (f"p50 {span((x[side]['50'] for x in raw), '{:.2f}'.format)}, "
                        f"p99 {span((x[side]['99'] for x in raw), '{:.2f}'.format)} ms")
            ours, theirs = lat("rivulet_ms"), lat("baseline_ms")
        else:
            ours = span((x["rivulet"]["median"] for x in raw), _report.fmt_rate) + " msg/s"
            theirs = span((x["baseline"]["median"] for x in raw), _report.fmt_rate) + " msg/s"
        ratio = span((r["ratio"]["median"] for r in results), "{:.2f}".format) + "x"
        met = sum(bool(r["met"]) for r in results)
        rows.append([first["label"], placement, ours, f"{first['baseline']}: {theirs}", ratio,
                     first["target"], f"{met}/{len(results)} runs"])
    headers = ["benchmark", "CPUs", "rivulet", "baseline", "ratio", "target", "met"]
    return headers, rows


def meter_rows(runs: list[Run]) -> tuple[list[str], list[list[str]]]:
    """One row per operation: median time range across runs, round trips."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        for result in run["results"]:
            groups.setdefault(result["name"], []).append(result)
    rows = []
    for name, results in groups.items():
        medians = [sorted(r["durations_s"])[len(r["durations_s"]) // 2] for r in results]
        trips = {r["round_trips"] for r in results}
        rows.append([name, f"{results[0]['rows']:,}", span(medians, _report.fmt_ms),
                     "/".join(str(t) for t in sorted(trips))])
    return ["operation", "rows", "median ms (runs)", "round trips"], rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.summary",
                                     description=(__doc__ or "").split("\n")[0])
    parser.add_argument("files", nargs="+", type=Path, help="JSON files written with --json")
    parser.add_argument("--rst", action="store_true", help="RST tables for README.rst")
    args = parser.parse_args(argv)
    runs = [json.loads(path.read_text(encoding="utf-8")) for path in args.files]
    core = [r for r in runs if "dataset" not in r]
    metered = [r for r in runs if "dataset" in r]
    render = _report.rst_table if args.rst else _report.text_table
    for kind, chosen, build in (("core", core, core_rows), ("management", metered, meter_rows)):
        if chosen:
            headers, rows = build(chosen)
            load = span((r["environment"]["loadavg_1m"] for r in chosen), "{:.1f}".format)
            print(f"{kind}: {len(chosen)} runs, 1-minute load average {load}\n")
            print(render(headers, rows))
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
