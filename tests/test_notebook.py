"""The admin tour in examples/ runs top to bottom in a real kernel, and what a
person sees of it reads as the dashboard does: human times, a status column,
no raw epoch milliseconds, an Admin that names its server."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest

from rivulet import formatting

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

TOUR = Path(__file__).resolve().parents[1] / "examples" / "admin_tour.ipynb"
EPOCH_MS = re.compile(r"(?<![\d.])1\d{12}(?![\d.])")  # a raw millisecond timestamp
LOCAL_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}")


def page(notebook: Any) -> str:
    """The notebook's code and rich outputs as one HTML page (what the test
    checks, and what a person can open in a browser)."""
    parts = ["<!doctype html><meta charset='utf-8'><title>admin tour</title>",
             "<body style='font-family:sans-serif;max-width:980px;margin:1em auto'>"]
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            parts.append(f"<div class='md'><pre>{html.escape(cell.source)}</pre></div>")
            continue
        parts.append(f"<pre style='background:#f4f4f4'>{html.escape(cell.source)}</pre>")
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "text/html" in data:
                parts.append(f"<div class='out'>{data['text/html']}</div>")
            elif "text/plain" in data:
                parts.append(f"<pre class='out'>{html.escape(data['text/plain'])}</pre>")
    return "\n".join(parts)


@pytest.fixture
def executed(redis_server: Any, real_redis: Any, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Any:
    """The tour executed against the test server, with Jupyter's files kept in tmp_path."""
    monkeypatch.setenv("RIVULET_REDIS_URL", redis_server.url)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # no migration warning
    for name in ("JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR", "IPYTHONDIR"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    notebook = nbformat.read(TOUR, as_version=4)
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    (tmp_path / "admin_tour.html").write_text(page(notebook), encoding="utf-8")
    return notebook


@pytest.mark.slow
def test_the_admin_tour_reads_like_the_dashboard(executed: Any) -> None:
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    rendered = page(executed)
    shown = "\n".join(o.get("data", {}).get("text/html", "") for o in outputs)
    # Times are local date-times, never epoch milliseconds.
    assert LOCAL_TIME.search(shown)
    assert not EPOCH_MS.search(shown), EPOCH_MS.findall(shown)[:3]
    plain_only = "\n".join(o.get("data", {}).get("text/plain", "") for o in outputs
                           if "text/html" not in o.get("data", {}))
    assert not EPOCH_MS.search(plain_only), plain_only[:300]
    # Subscribers have a status column with the palette's words.
    subscriber_table = next(h for h in shown.split("<div") if ">client id</th>" in h
                            and ">lag seconds</th>" in h)
    assert ">status</th>" in subscriber_table
    statuses = re.findall(r"font-weight:600;\">([a-z ]+)</td>", subscriber_table)
    assert sorted(statuses) == ["catching up", "caught up", "stopped"]
    # Rates per second and the catching-up reader's ETA as a duration.
    assert re.search(r">\d[\d,.]*/s<", subscriber_table)
    # Durations as the dashboard writes them.
    assert re.search(r">\d+(\.\d)? s<", subscriber_table)
    # Admin names its server (test_models checks the password is masked).
    assert outputs[0]["data"]["text/plain"].startswith("<rivulet.Admin redis://127.0.0.1:")
    assert "rivulet.admin.Admin at 0x" not in rendered
    # to_pandas() ran: the frame shows a status column and datetimes.
    assert "dataframe" in shown and "caught up" in shown
    assert formatting.duration(299.5) == "4 min 59 s"  # the formatting the tables use
