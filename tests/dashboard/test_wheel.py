"""A non-editable `pip install .` serves the dashboard's templates and static files.

The wheel maps the repo's top-level templates/ and static/ into the dashboard
package; this test installs it into a fresh venv and runs `rivulet dashboard`
from outside the repo, so nothing can be found by accident in the checkout.
"""

from __future__ import annotations

import os
import site
import subprocess
import urllib.request
import venv
from pathlib import Path
from typing import Any

import pytest

from dashboard import HTMX_VERSION

REPO = Path(__file__).resolve().parents[2]


def bin_path(env: Path, name: str) -> Path:
    return env / ("Scripts" if os.name == "nt" else "bin") / name


@pytest.mark.slow
def test_installed_wheel_serves_templates_and_static(
    tmp_path: Path, redis_server: Any, real_redis: Any
) -> None:
    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env)
    # Dependencies come from the test's own environment (a .pth line), so only
    # the project itself is built and installed: nothing but the build backend
    # is fetched from the index.
    env_python = bin_path(env, "python")
    purelib = subprocess.run(
        [env_python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(purelib) / "parent-env.pth").write_text(
        "\n".join(p for p in site.getsitepackages() if "site-packages" in p) + "\n"
    )
    install = subprocess.run(
        [env_python, "-m", "pip", "install", "--no-deps", "."],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if install.returncode and "hatchling" in install.stderr and "No matching" in install.stderr:
        pytest.skip("cannot fetch the build backend (hatchling) from the package index")
    assert install.returncode == 0, install.stderr[-2000:]
    installed = Path(purelib) / "dashboard"
    assert (installed / "templates" / "base.html").is_file()
    assert (installed / "static" / f"htmx-{HTMX_VERSION}.min.js").is_file()
    assert (installed / "static" / f"htmx-{HTMX_VERSION}.LICENSE").is_file()

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    clean_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    where = subprocess.run(
        [env_python, "-c", "import dashboard; print(dashboard.__file__)"],
        cwd=outside,
        capture_output=True,
        text=True,
        env=clean_env,
        check=True,
    ).stdout
    assert where.startswith(str(env)), where

    proc = subprocess.Popen(
        [
            bin_path(env, "rivulet"),
            "dashboard",
            "--port",
            "0",
            "--no-auth",
            "--redis-url",
            redis_server.url,
        ],
        cwd=outside,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("Dashboard: "), (line, proc.stderr)
        base = line.split()[1].rstrip("/")
        with urllib.request.urlopen(base + "/", timeout=10) as page:
            html = page.read().decode()
        assert "<h1>Channels</h1>" in html and f"htmx-{HTMX_VERSION}.min.js" in html
        for name in (f"htmx-{HTMX_VERSION}.min.js", "app.css", "app.js", "favicon.svg"):
            with urllib.request.urlopen(f"{base}/static/{name}", timeout=10) as static:
                assert static.status == 200 and static.read()
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
    assert proc.returncode == 0
