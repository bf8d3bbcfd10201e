"""Write throughput over 64 channels and blocking-read wake-ups on a 3-master
Redis Cluster against one server (issue 8), in one run.

    python -m bench.cluster [--quick] [--json] [--samples N] [--calls N]

Throughput: four writer processes (``bench/_throughput.py``), 16 channels
each, write batches of 10 messages as fast as the servers answer, once to the
standalone server and once to the cluster (the 64 channels spread over the
three masters by their hash tags). On a machine with few CPUs the writers and
the servers share them, so the cluster can show at most what its extra
processes win when the CPUs are not already busy.

Wake-ups:
Starts throwaway redis-servers on free 127.0.0.1 ports (no persistence): one
standalone, and three cluster masters without replicas. A reader process blocks
in ``read(timeout=-1)`` on three channels -- on the cluster one owned by each
master -- and stamps ``perf_counter()`` when its read returns; the writer stamps
just before each write, to the channels in turn (as ``bench/_wakeup.py``). Three
setups, run one after another:

- ``one server``: the standalone server (SPUBLISH/SSUBSCRIBE on Redis 7);
- ``3 masters, sharded``: rivulet's path on Redis >= 7, SPUBLISH to the owning
  master, SSUBSCRIBE there, one link per master;
- ``3 masters, broadcast``: the 6.2 path forced on the same cluster, PUBLISH and
  one SUBSCRIBE link (on the master of the first channel), so wake-ups for the
  other two channels cross the cluster bus (``remote`` in the output).

Server CPU is the growth of ``used_cpu_user + used_cpu_sys`` summed over every
server process, per write (write, wake-up and the reader's look), less what the
same servers spend over an equally long quiet spell: what each write costs the
deployment as a whole. INFO reports CPU in microseconds, but the kernel's
accounting is coarser; take it over many writes.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python bench/cluster.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from bench import _server, _throughput, _timing

START_TIMEOUT_S = 30.0
GAP_S = (0.002, 0.006)  # pause between writes, so the reader is back in its wait
SETUPS = ("one server", "3 masters, sharded", "3 masters, broadcast")


def _free_port() -> int:
    while True:  # a cluster node also needs port + 10000 for its bus
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port <= 55535:
            return port


class Node:
    """One throwaway redis-server process."""

    def __init__(self, executable: str, cluster: bool) -> None:
        self.dir = tempfile.mkdtemp(prefix="rivulet-bench-cluster-")
        self.port = _free_port()
        extra = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"] if cluster \
            else []
        self.proc = subprocess.Popen(
            [executable, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--loglevel", "warning", *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self.client = redis.Redis(host="127.0.0.1", port=self.port, retry=Retry(NoBackoff(), 0))
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:  # the server gives no other sign that it accepts connections
            try:
                self.client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.02)

    def cpu_s(self) -> float:
        info = self.client.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    def stop(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def servers(executable: str) -> Iterator[tuple[Node, list[Node]]]:
    """A standalone server and a settled 3-master cluster."""
    nodes: list[Node] = []
    try:
        single = Node(executable, cluster=False)
        nodes.append(single)
        masters = [Node(executable, cluster=True) for _ in range(3)]
        nodes.extend(masters)
        for node, (low, high) in zip(masters, [(0, 5460), (5461, 10922), (10923, 16383)]):
            node.client.execute_command("CLUSTER", "ADDSLOTS", *range(low, high + 1))
        for node in masters[1:]:
            masters[0].client.execute_command("CLUSTER", "MEET", "127.0.0.1", node.port)
        deadline = time.monotonic() + START_TIMEOUT_S
        # No event marks the cluster settling: ask every node until all agree.
        while not all(b"cluster_state:ok" in n.client.execute_command("CLUSTER", "INFO")
                      and str(n.client.execute_command("CLUSTER", "NODES")).count("master") == 3
                      for n in masters):
            if time.monotonic() > deadline:
                raise RuntimeError("the 3-master cluster did not settle")
            time.sleep(0.05)
        yield single, masters
    finally:
        for node in nodes:
            node.stop()


def _redis(port: int, cluster: bool) -> Any:
    if cluster:
        return RedisCluster(host="127.0.0.1", port=port, retry=Retry(NoBackoff(), 0))
    return redis.Redis(host="127.0.0.1", port=port, retry=Retry(NoBackoff(), 0))


def _client(port: int, cluster: bool, client_id: str, channels: list[str],
            broadcast: bool) -> Any:
    import rivulet
    from rivulet.wakeup import PUBLISH

    client = rivulet.Client(redis=_redis(port, cluster), client_id=client_id,
                            channel_ids=channels, index_policy="latest")
    if broadcast:
        client._wakeup.publisher._command = PUBLISH  # the 6.2 path, forced for comparison
    return client


def reader_main(port: int, cluster: bool, channels: list[str], broadcast: bool,
                pipe: Connection) -> None:
    """Child process: block, stamp each wake-up, until told to stop."""
    client = _client(port, cluster, "bench-reader", channels, broadcast)
    pipe.send("ready")
    while True:
        inbox = client.read(timeout=-1)
        woke = time.perf_counter()
        data = [m["data"] for messages in inbox.values() for m in messages]
        if "stop" in data:
            client.close()
            return
        pipe.send((woke, len(data)))


def _channels(port: int, cluster: bool) -> tuple[list[str], list[str]]:
    """Three channel names (on a cluster one per master), and each one's master."""
    if not cluster:
        return ["c0", "c1", "c2"], ["one", "one", "one"]
    from rivulet import keys

    probe = RedisCluster(host="127.0.0.1", port=port)
    owners: dict[str, str] = {}
    for i in range(1000):
        owner = probe.get_node_from_key(keys.wake_channel(f"c{i}")).name
        owners.setdefault(owner, f"c{i}")
        if len(owners) == 3:
            break
    probe.close()
    by_name = {name: owner for owner, name in owners.items()}
    names = sorted(by_name)
    return names, [by_name[n] for n in names]


def run_setup(setup: str, single: Node, masters: list[Node], samples: int) -> dict[str, Any]:
    cluster = setup != "one server"
    broadcast = setup.endswith("broadcast")
    port = masters[0].port if cluster else single.port
    nodes = masters if cluster else [single]
    channels, owners = _channels(port, cluster)
    writer = _client(port, cluster, "bench-writer", channels, broadcast)
    writer.redis.flushall()
    writer.subscribe(channels)
    ctx = multiprocessing.get_context("spawn")  # no forked redis connections
    pipe, child_end = ctx.Pipe()
    proc = ctx.Process(target=reader_main, args=(port, cluster, channels, broadcast, child_end),
                       daemon=True)
    proc.start()
    try:
        if not pipe.poll(START_TIMEOUT_S) or pipe.recv() != "ready":
            raise RuntimeError("reader did not start")
        latencies: list[tuple[float, str]] = []
        cpu_before = sum(n.cpu_s() for n in nodes)
        began = time.perf_counter()
        for i in range(samples):
            time.sleep(random.uniform(*GAP_S))  # jitter, not security
            channel = channels[i % 3]
            start = time.perf_counter()
            writer.write(channel, f"wake {i}")
            if not pipe.poll(10):
                raise RuntimeError("reader did not wake within 10 s")
            woke, count = pipe.recv()
            if count != 1:
                raise RuntimeError(f"reader woke with {count} messages, expected 1")
            latencies.append((woke - start, channel))
        busy_cpu = sum(n.cpu_s() for n in nodes) - cpu_before
        # The servers' own housekeeping (cron, cluster-bus pings) over as long
        # a quiet spell, taken off: what is left is what the writes cost.
        idle_before = sum(n.cpu_s() for n in nodes)
        time.sleep(time.perf_counter() - began)
        idle_cpu = sum(n.cpu_s() for n in nodes) - idle_before
        cpu_us = (busy_cpu - idle_cpu) / samples * 1e6
        writer.write(channels[0], "stop")
    finally:
        proc.join(5)
        if proc.is_alive():
            proc.terminate()
        writer.close()
    # With one SUBSCRIBE link (broadcast) the reader listens on the first
    # channel's master; the others' wake-ups reach it over the cluster bus.
    listening = owners[0]
    remote = [s for s, ch in latencies if owners[channels.index(ch)] != listening]
    every = [s for s, _ in latencies]

    def ms(values: list[float], q: float) -> float:
        return _timing.percentile(values, q) * 1000 if values else float("nan")

    return {"setup": setup, "samples": samples,
            "p50_ms": ms(every, 50), "p99_ms": ms(every, 99),
            "remote_p50_ms": ms(remote, 50) if cluster else None,
            "remote_p99_ms": ms(remote, 99) if cluster else None,
            "server_cpu_us_per_write": cpu_us}


def throughput_client(port: int, cluster: bool, client_id: str, channels: list[str]) -> Any:
    """A writer subscribed to ``channels`` (built in a spawned child)."""
    return _client(port, cluster, client_id, channels, broadcast=False)


def run_throughput(single: Node, masters: list[Node], calls: int) -> list[dict[str, Any]]:
    rows = []
    for setup, port, cluster in (("one server", single.port, False),
                                 ("3 masters", masters[0].port, True)):
        probe = _redis(port, cluster)
        probe.flushall()
        probe.close()
        row = _throughput.measure(throughput_client, (port, cluster), calls)
        rows.append({"setup": setup, **row})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster",
                                     description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--redis-server", help="redis-server (>= 7) executable to start")
    parser.add_argument("--samples", type=int, help="writes per setup")
    parser.add_argument("--calls", type=int, help="write calls per writer process")
    parser.add_argument("--quick", action="store_true", help="fewer writes")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    args = parser.parse_args(argv)
    samples = args.samples or (150 if args.quick else 900)
    executable = args.redis_server or _server.find_redis_server()
    calls = args.calls or (500 if args.quick else 3000)
    results = []
    with servers(executable) as (single, masters):
        version = single.client.info("server")["redis_version"]
        print("running write throughput ...", file=sys.stderr, flush=True)
        throughput = run_throughput(single, masters, calls)
        for setup in SETUPS:
            print(f"running {setup} ...", file=sys.stderr, flush=True)
            results.append(run_setup(setup, single, masters, samples))
    if args.json:
        print(json.dumps({"redis_server": version, "cpus": os.cpu_count(),
                          "throughput": throughput, "results": results}, indent=2))
        return 0
    print(f"redis-server {version}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; "
          f"write throughput, {_throughput.WRITERS} writer processes, {_throughput.CHANNELS} "
          f"channels, {_throughput.BATCH} messages per call, {calls} calls per writer")
    print(f"{'setup':<22} {'messages/s':>11} {'calls/s':>9} {'seconds':>8}")
    for t in throughput:
        print(f"{t['setup']:<22} {t['messages_per_s']:>11.0f} {t['calls_per_s']:>9.0f} "
              f"{t['seconds']:>8.2f}")
    print()
    print(f"redis-server {version}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}, "
          f"{samples} writes per setup (wake-up latency, write call to read return)")
    print(f"{'setup':<22} {'p50 ms':>8} {'p99 ms':>8} {'remote p50':>11} {'remote p99':>11} "
          f"{'server CPU us/write':>20}")
    fmt: Callable[[float | None], str] = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
    for r in results:
        print(f"{r['setup']:<22} {fmt(r['p50_ms']):>8} {fmt(r['p99_ms']):>8} "
              f"{fmt(r['remote_p50_ms']):>11} {fmt(r['remote_p99_ms']):>11} "
              f"{r['server_cpu_us_per_write']:>20.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
