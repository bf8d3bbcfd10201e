"""`rivulet dashboard`: options, refusals, the embedded Redis and a clean stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from click.testing import CliRunner

from dashboard.cli import dashboard, is_loopback
from dashboard.embedded import EmbeddedRedis, EmbeddedRedisError

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str, env: dict[str, str] | None = None) -> Any:
    runner = CliRunner()
    return runner.invoke(dashboard, list(args), env=env or {}, catch_exceptions=False)


@pytest.mark.parametrize(
    "args",
    [
        ["--no-auth", "--token", "t"],
        ["--no-auth", "--host", "0.0.0.0"],
        ["--no-auth", "--host", "192.168.1.5"],
        ["--no-auth", "--host", "example.com"],
        ["--token", ""],
    ],
)
def test_refusals_exit_2_with_one_line_before_starting_anything(
    tmp_path: Path, args: list[str]
) -> None:
    data = tmp_path / "data"
    result = run_cli(*args, "--port", "0", "--data-dir", str(data))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("Error: ")
    assert not data.exists()


def test_busy_port_is_one_line_naming_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("--port", str(port), "--data-dir", str(tmp_path / "d"))
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--port" in lines[0] and str(port) in lines[0]
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.1", False),
        ("example.com", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


# -- the real command in a subprocess -------------------------------------------


class Dashboard:
    """`python -m rivulet.cli dashboard ...` with its first output lines read."""

    def __init__(self, tmp_path: Path, *args: str, env: dict[str, str] | None = None,
                 before: list[str] | None = None) -> None:
        full_env = {k: v for k, v in os.environ.items() if not k.endswith("REDIS_URL")}
        full_env.pop("RIVULET_DASHBOARD_TOKEN", None)
        full_env.update(env or {})
        full_env["PYTHONPATH"] = str(REPO)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rivulet.cli", *(before or []), "dashboard", "--port", "0",
             *args],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=full_env,
        )
        assert self.proc.stdout is not None
        # The command prints its URL lines once everything listens: wait for them.
        first = self.proc.stdout.readline()
        if not first.startswith("Dashboard: "):
            self.proc.kill()
            raise AssertionError(f"no URL line: {first!r} {self.proc.stderr.read()!r}")  # type: ignore[union-attr]
        self.url = first.split(" ", 1)[1].strip()
        self.base, _, query = self.url.partition("?")
        self.token = query.removeprefix("token=") if query else None
        self.redis_url: str | None = None

    def read_redis_line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith("Redis:"), line
        self.redis_url = line.split(None, 1)[1].strip()
        return self.redis_url

    def get(self, path: str) -> tuple[int, Any]:
        request = urllib.request.Request(self.base.rstrip("/") + path)
        if self.token:
            request.add_header("Authorization", f"Bearer {urllib.parse.unquote(self.token)}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                body = response.read()
                return response.status, json.loads(body) if body[:1] == b"{" else body
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def stop(self, sig: int = signal.SIGINT) -> tuple[int, str, str]:
        self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=20)
        return self.proc.returncode, out, err


@pytest.fixture
def started() -> Iterator[list[Dashboard]]:
    running: list[Dashboard] = []
    yield running
    for one in running:
        if one.proc.poll() is None:
            one.proc.kill()
            one.proc.communicate()


def gone(url: str) -> bool:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.ConnectionError:
        return True
    return False


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_embedded_redis_demo_and_clean_stop(
    tmp_path: Path, started: list[Dashboard], sig: int
) -> None:
    board = Dashboard(tmp_path, "--demo")
    started.append(board)
    assert board.token and len(board.token) >= 32
    redis_url = board.read_redis_line()
    assert redis_url.startswith("redis://:") and "@127.0.0.1:" in redis_url
    assert (tmp_path / "rivulet-data").is_dir()
    # Another process can use the printed URL.
    assert redis.Redis.from_url(redis_url).ping()

    # The slow consumer falls behind within seconds; nothing to subscribe to, so ask.
    deadline = time.monotonic() + 30
    lag = 0
    while lag == 0:
        assert time.monotonic() < deadline, "no lag from the demo within 30 s"
        status, body = board.get("/api/channels?q=demo/")
        assert status == 200
        lag = max((c["max_lag"] for c in body["channels"]), default=0)
        time.sleep(0.2)
    names = {c["name"] for c in body["channels"]}
    assert {"demo/sensors #1", "demo/logs 100%"} <= names

    code, _out, err = board.stop(sig)
    assert code == 0, err
    assert "stopping" in err
    assert gone(redis_url)
    # The data stays for next time.
    assert any((tmp_path / "rivulet-data").glob("appendonly.aof*"))


@pytest.mark.slow
def test_data_survives_a_restart_and_the_token_logs_in(
    tmp_path: Path, started: list[Dashboard]
) -> None:
    data = tmp_path / "store"
    first = Dashboard(tmp_path, "--data-dir", str(data), "--token", "my token/1")
    started.append(first)
    assert first.url.endswith("/?token=my%20token%2F1")
    import rivulet

    with rivulet.connect(first.read_redis_line(), client_id="c", channel_ids="kept") as c:
        c.write("kept", ["x"])
    # A second dashboard may not share the folder while the first runs.
    with pytest.raises(EmbeddedRedisError, match="in use"):
        EmbeddedRedis(data).start()
    assert first.stop()[0] == 0

    second = Dashboard(tmp_path, "--data-dir", str(data), env={"RIVULET_DASHBOARD_TOKEN": "env"})
    started.append(second)
    assert second.token == "env"
    second.read_redis_line()
    _status, body = second.get("/api/channels")
    assert [c["name"] for c in body["channels"]] == ["kept"]
    # A browser follows the printed URL: 303 to the same page without the token.
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    with opener.open(second.url, timeout=10) as page:
        assert page.url == second.base
        assert b"kept" in page.read()
    assert second.stop(signal.SIGTERM)[0] == 0


@pytest.mark.slow
def test_external_redis_prints_one_line_and_demo_warns(
    tmp_path: Path, started: list[Dashboard], redis_server: Any, real_redis: Any
) -> None:
    board = Dashboard(tmp_path, "--no-auth", "--demo", env={"REDIS_URL": redis_server.url})
    started.append(board)
    assert board.token is None and "?" not in board.url
    status, _body = board.get("/api/channels")
    assert status == 200
    code, out, err = board.stop()
    assert code == 0
    assert out == ""  # nothing after the URL line: no Redis line for an external server
    assert "--demo writes demo channels" in err and "--no-auth" in err
    assert not (tmp_path / "rivulet-data").exists()


# -- issue 12: a URL that survives restarts, and start-up that says what to do --


def read_note(board: Dashboard, wanted: str) -> str:
    """Read the dashboard's stderr up to the note containing ``wanted``."""
    assert board.proc.stderr is not None
    seen = []
    for line in board.proc.stderr:
        seen.append(line)
        if wanted in line:
            return line
    raise AssertionError(f"no note with {wanted!r}: {''.join(seen)!r}")


@pytest.mark.slow
def test_restart_on_the_same_folder_keeps_the_first_url_working(
    tmp_path: Path, started: list[Dashboard]
) -> None:
    data = tmp_path / "store"
    first = Dashboard(tmp_path, "--data-dir", str(data), "--no-auth")
    started.append(first)
    url = first.read_redis_line()
    assert redis.Redis.from_url(url).set("kept", "1")
    password_file = data / "redis-password"
    assert password_file.stat().st_mode & 0o777 == 0o600
    assert password_file.read_text().strip() in url
    # The env file the start-up note names points the CLI at the same URL.
    note = read_note(first, "for the rivulet CLI")
    assert "store/rivulet.env" in note and url not in note  # the secret stays in the file
    env_file = data / "rivulet.env"
    assert env_file.stat().st_mode & 0o777 == 0o600
    assert env_file.read_text().splitlines()[-1] == f"export RIVULET_REDIS_URL='{url}'"
    assert "Ctrl-C to stop" in read_note(first, "Ctrl-C")
    assert first.stop()[0] == 0
    assert gone(url)

    second = Dashboard(tmp_path, "--data-dir", str(data), "--no-auth")
    started.append(second)
    assert second.read_redis_line() == url
    # A process that was given the first URL keeps working.
    assert redis.Redis.from_url(url).get("kept") == b"1"
    assert second.stop()[0] == 0


def test_the_password_never_reaches_the_servers_command_line(tmp_path: Path) -> None:
    # Any local user reads a process's argv (ps, /proc/<pid>/cmdline).
    with EmbeddedRedis(tmp_path / "data") as server:
        assert server._proc is not None
        argv = Path(f"/proc/{server._proc.pid}/cmdline").read_bytes().split(b"\0")
        assert server.password.encode() not in b" ".join(argv)
        conf = tmp_path / "data" / "redis-secret.conf"
        assert conf.stat().st_mode & 0o777 == 0o600
        assert redis.Redis.from_url(server.url).ping()
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(host="127.0.0.1", port=redis.Redis.from_url(server.url)
                        .connection_pool.connection_kwargs["port"]).ping()


def test_a_bad_password_file_is_a_clear_error(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "redis-password").write_text("two words\n")
    with pytest.raises(EmbeddedRedisError, match="does not hold a usable password"):
        EmbeddedRedis(data).start()


@pytest.mark.slow
def test_external_redis_that_does_not_answer_is_said_at_start(
    tmp_path: Path, started: list[Dashboard]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"redis://:secret@127.0.0.1:{probe.getsockname()[1]}/0"
    board = Dashboard(tmp_path, "--no-auth", "--redis-url", dead)
    started.append(board)
    warning = read_note(board, "does not answer")
    assert "127.0.0.1" in warning and "secret" not in warning
    status, _body = board.get("/api/channels")
    assert status == 503  # and it keeps serving the 503 page
    assert board.stop()[0] == 0


@pytest.mark.slow
def test_redis_url_before_the_dashboard_command(
    tmp_path: Path, started: list[Dashboard], redis_server: Any, real_redis: Any
) -> None:
    board = Dashboard(tmp_path, "--no-auth", env={}, before=["--redis-url", redis_server.url])
    started.append(board)
    assert board.get("/api/channels")[0] == 200
    code, out, _err = board.stop()
    assert code == 0 and out == ""  # no embedded server, so no Redis line
    assert not (tmp_path / "rivulet-data").exists()


@pytest.mark.slow
def test_a_taken_port_moves_redis_and_says_the_url_changed(
    tmp_path: Path, started: list[Dashboard]
) -> None:
    data = tmp_path / "store"
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        data.mkdir()
        (data / "redis-port").write_text(f"{taken}\n")
        board = Dashboard(tmp_path, "--data-dir", str(data), "--no-auth")
        started.append(board)
        url = board.read_redis_line()
        assert f":{taken}/" not in url
        warning = read_note(board, "URL changed")
        assert f"WARNING: port {taken}" in warning
        note = read_note(board, "for the rivulet CLI")
        assert "stays the same" not in note
        assert board.stop()[0] == 0


def test_the_embedded_redis_files_are_the_owners_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)  # a folder made before, open to others
    with EmbeddedRedis(data) as server:
        redis.Redis.from_url(server.url).set("k", "v")
    files = [p for p in data.rglob("*") if p.is_file() and p.name != "rivulet-dashboard.lock"]
    assert any(p.name.startswith("appendonly") for p in files)
    assert any(p.name == "redis.log" for p in files)
    for path in files:
        assert path.stat().st_mode & 0o077 == 0, path
    assert data.stat().st_mode & 0o777 == 0o700


def test_a_data_dir_that_cannot_be_used_is_a_clear_error(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    with pytest.raises(EmbeddedRedisError, match=r"cannot use .* \(--data-dir\)"):
        EmbeddedRedis(not_a_folder / "data").start()
