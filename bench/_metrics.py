"""``/metrics`` and the full lag scan, now against a baseline commit's code.

The baseline (issue 9's targets are measured against main at 2eb8200) runs
in a child process from that commit's tree (``git archive`` into a temporary
directory), on the same Redis and the same CPU as this process, one call at a
time when asked: the two sides alternate round by round, so drift on a
shared machine hits both. Its own code, not a copy kept here, is what runs.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

from bench import _server

#: main when issue 9's /metrics and lag-scan targets were set.
BASELINE_REF = "2eb8200"
#: The first release's /metrics at 10,001 channels x 5 subscribers (issue 9):
#: the 5x target is a scrape of at most a fifth of this.
FIRST_RELEASE_METRICS_S = 2.3

# Runs in the child, from the baseline's tree: one timed call per request.
_WORKER = """
import gc, sys, time
import rivulet
if not rivulet.__file__.startswith(sys.path[0]):
    sys.exit(f"baseline imported rivulet from {rivulet.__file__}, not {sys.path[0]}")
from dashboard.metrics import exposition
admin = rivulet.Admin(sys.argv[1])
calls = {"channels": admin.channels, "metrics": lambda: exposition(admin.lag_scan())}
for line in sys.stdin:
    call = calls[line.strip()]
    gc.collect()
    start = time.perf_counter()
    call()
    print(time.perf_counter() - start, flush=True)
"""


def new_metrics(admin: Any) -> bytes:
    """The scrape now (what ``dashboard.metrics`` serves)."""
    from dashboard.metrics import exposition

    return exposition(admin.lag_scan())


def series(body: bytes) -> int:
    """The samples in an exposition (its lines that are no comment)."""
    return body.count(b"\n") - body.count(b"# ")


class Baseline:
    """``ref``'s rivulet in a child process, timing one call per :meth:`time`."""

    def __init__(self, url: str, ref: str = BASELINE_REF) -> None:
        self.ref = ref
        self._dir = tempfile.TemporaryDirectory(prefix="rivulet-baseline-")
        root = _server.repo_root()
        archive = Path(self._dir.name) / "tree.tar"
        with archive.open("wb") as out:
            subprocess.run(["git", "-C", str(root), "archive", ref], stdout=out, check=True)
        with tarfile.open(archive) as tar:
            tar.extractall(self._dir.name, filter="data")
        # The baseline's tree first on the path: its rivulet and dashboard, not ours.
        self._proc = subprocess.Popen(
            [sys.executable, "-c", f"import sys; sys.path.insert(0, {self._dir.name!r})\n"
             + _WORKER, url],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=self._dir.name)

    def time(self, call: str) -> float:
        """Seconds one ``call`` ("channels" or "metrics") took in the baseline."""
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(call + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.ref} baseline process died (exit {self._proc.wait()})")
        return float(line)

    def close(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._dir.cleanup()

    def __enter__(self) -> Baseline:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()
