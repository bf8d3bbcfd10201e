"""The `rivulet` command line against a real redis-server: click's CliRunner for
most behaviour, subprocesses for what only a real process shows (the entry
point, --follow, Ctrl-C, a terminal prompt, broken pipes, exit codes)."""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import rivulet
from rivulet import cli as cli_module
from rivulet.cli import cli

from ..conftest import free_port, is_cluster

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = "a/b c%#<script>"
UNICODE = "ünï 🚀 日本"
#: Every command, with arguments that would work against a live Redis.
COMMANDS = [
    ["channels"], ["lag"], ["lag", "ch"], ["clients"], ["post", "ch", "x"], ["tail", "ch"],
    ["prune", "ch", "--consumed"], ["delete", "ch", "--yes"], ["move", "ch", "c", "latest"],
    ["remove", "ch", "c"], ["retention", "ch"],
]

Run = Callable[..., Result]


def closed_url() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there


def one_line_error(text: str) -> str:
    """The single stderr line of a failed command (and that it is single)."""
    lines = text.splitlines()
    assert len(lines) == 1, text
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in text
    return lines[0]


@pytest.fixture(params=["redis", "cluster6"])
def store(request: pytest.FixtureRequest) -> Any:
    """The standalone server or the 3+3 cluster, flushed."""
    return request.getfixturevalue({"redis": "real_redis", "cluster6": "cluster6_redis"}
                                   [request.param])


@pytest.fixture
def url(request: pytest.FixtureRequest, store: Any) -> str:
    """The URL of ``store`` (a plain node URL, which the CLI detects as a
    cluster, is tested in test_cluster_mode.py)."""
    if is_cluster(store):
        return f"redis+cluster://127.0.0.1:{request.getfixturevalue('cluster6_server').port}"
    return str(request.getfixturevalue("redis_server").url)


@pytest.fixture
def run(url: str) -> Run:
    """Run the CLI in-process with RIVULET_REDIS_URL pointing at the test server."""
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None, env: dict[str, str | None] | None = None
               ) -> Result:
        return runner.invoke(cli, list(args), input=input, catch_exceptions=False,
                             env={"RIVULET_REDIS_URL": url, "REDIS_URL": None, **(env or {})})

    return invoke


@pytest.fixture
def connect(url: str) -> Iterator[Callable[..., rivulet.Client]]:
    made: list[rivulet.Client] = []

    def make(client_id: str, channels: list[str], **kwargs: Any) -> rivulet.Client:
        client = rivulet.connect(url, client_id=client_id, channel_ids=channels, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def admin(url: str) -> Iterator[rivulet.Admin]:
    admin = rivulet.Admin(url)
    yield admin
    admin.close()


@pytest.fixture
def orders(connect: Callable[..., rivulet.Client]) -> None:
    """`orders` with 4 messages, a caught-up reader and one that never read."""
    fast = connect("fast", ["orders"])
    connect("slow", ["orders"])
    fast.write("orders", ["one", "two", "three", "four"])
    fast.read()


def script_env(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("REDIS_URL", "PYTHONUNBUFFERED", "PYTHONIOENCODING")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["RIVULET_REDIS_URL"] = url
    env.update(extra)
    return env


def script(url: str, *args: str, input: str | None = None, **env: str
           ) -> subprocess.CompletedProcess[str]:
    """Run `python -m rivulet.cli` as its own process."""
    return subprocess.run([sys.executable, "-m", "rivulet.cli", *args], input=input,
                          capture_output=True, text=True, encoding="utf-8", timeout=60,
                          env=script_env(url, **env), cwd=ROOT)


# -- channels, lag, clients ------------------------------------------------------------


def test_channels_table_has_every_column_and_totals(run: Run, orders: None,
                                                   connect: Callable[..., rivulet.Client]
                                                   ) -> None:
    connect("w", [HOSTILE, UNICODE]).write(HOSTILE, "x")
    result = run("channels")
    assert result.exit_code == 0, result.output
    header, *rows, total = result.stdout.splitlines()
    assert header.split() == ["CHANNEL", "STATUS", "MESSAGES", "HEAD", "SUBSCRIBERS", "WORST",
                              "LAG", "OLDEST", "UNREAD", "LAST", "WRITE", "WRITE", "RATE"]
    assert [r.split("  ")[0] for r in rows] == [HOSTILE, "orders", UNICODE]
    orders_row = rows[1]
    # Numbers are right-aligned under their headers.
    for column in ("MESSAGES", "HEAD", "SUBSCRIBERS"):
        end = header.index(column) + len(column)
        assert orders_row[end - 1].isdigit() and orders_row[end] == " "
    assert len(orders_row) == len(header)  # WRITE RATE, the last column, too
    # Durations and times as the dashboard writes them (rivulet.formatting).
    # slow subscribed just now and has not read: behind. No lag history is kept
    # (set_history was not called), so there is no write rate to show.
    assert re.search(r"orders +behind +4 +4 +2 +4 +\d+(\.\d)? s +(just now|\d+(\.\d)? s ago)"
                     r" +— *$", orders_row)
    assert re.match(r"TOTAL \(3 channels\) +behind +5 +4 +4 ", total)


def test_channels_json_paging_and_match(run: Run, orders: None,
                                        connect: Callable[..., rivulet.Client]) -> None:
    connect("w", ["demo/a", "demo/b"])
    data = json.loads(run("channels", "--json").stdout)
    assert data["total"] == 3
    assert [c["name"] for c in data["channels"]] == ["demo/a", "demo/b", "orders"]
    row = data["channels"][2]
    assert row["message_count"] == 4 and row["max_lag"] == 4 and row["subscriber_count"] == 2
    assert isinstance(row["last_write_ts"], int) and row["last_write_ts"] > 1e12  # ms
    page = json.loads(run("channels", "--json", "--limit", "1", "--offset", "1").stdout)
    assert [c["name"] for c in page["channels"]] == ["demo/b"] and page["total"] == 3
    matched = json.loads(run("channels", "--json", "--match", "demo/*").stdout)
    assert [c["name"] for c in matched["channels"]] == ["demo/a", "demo/b"]
    assert "TOTAL (1 of 3 channels)" in run("channels", "--limit", "1").stdout
    assert run("channels", "--match", "nothing*").stdout == "no channels\n"


def test_unreadable_channel_is_reported_not_fatal(run: Run, orders: None,
                                                  store: Any) -> None:
    store.set("rvl:msg:{broken}", "a string where a zset belongs")
    store.zadd("rvl:channels", {"broken": 0})
    result = run("channels")
    assert result.exit_code == 0
    header, broken, _, _ = result.stdout.splitlines()
    assert header.endswith("  ERROR")
    assert broken.startswith("broken ") and "WRONGTYPE" in broken
    assert json.loads(run("channels", "--json").stdout)["channels"][0]["error"]
    lag = run("lag")
    assert lag.exit_code == 0
    assert "left out 1 channel(s)" in lag.stderr and "slow" in lag.stdout


def test_channels_with_none_at_all(run: Run) -> None:
    result = run("channels")
    assert (result.exit_code, result.stdout) == (0, "no channels\n")
    assert json.loads(run("channels", "--json").stdout) == {"channels": [], "total": 0}


def test_lag_of_one_channel_shows_messages_pruned_unread(run: Run, orders: None) -> None:
    assert run("prune", "orders", "--upto-id", "1").exit_code == 0
    result = run("lag", "orders")
    assert result.exit_code == 0
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["CLIENT", "INDEX", "LAG", "PENDING", "PRUNED", "UNREAD", "LAG",
                              "TIME", "LAST", "READ", "STATUS"]
    slow = next(r for r in rows if r.startswith("slow"))
    # Just subscribed, never read: not judged yet (SPEC 8), never "stopped".
    assert re.match(r"slow +0 +4 +3 +1 +\d+(\.\d)? s +never +behind$", slow)
    rows_json = json.loads(run("lag", "orders", "--json").stdout)["subscribers"]
    by_client = {r["client_id"]: r for r in rows_json}
    assert by_client["slow"] | {"lag_seconds": 0} == {
        "channel": "orders", "client_id": "slow", "index": 0, "lag": 4, "pending": 3,
        "lag_seconds": 0, "last_read_ts": None, "beyond_head": False, "pruned_unread": 1,
        "status": "behind", "read_rate": None, "eta_s": None,
    }
    assert by_client["fast"]["status"] == "caught up"
    assert isinstance(by_client["fast"]["last_read_ts"], int)


def test_lag_of_every_channel_in_one_batch(run: Run, orders: None,
                                           connect: Callable[..., rivulet.Client],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    connect("w", [HOSTILE]).write(HOSTILE, "x")

    def per_channel(*args: Any) -> None:
        raise AssertionError("lag must not ask channel by channel")

    monkeypatch.setattr(rivulet.Admin, "subscribers", per_channel)
    rows = json.loads(run("lag", "--json").stdout)["subscribers"]
    # Worst first across channels, not within each (issue 12).
    assert [(r["channel"], r["client_id"], r["lag"]) for r in rows] == [
        ("orders", "slow", 4), (HOSTILE, "w", 1), ("orders", "fast", 0)]
    table = run("lag").stdout
    assert table.splitlines()[0].startswith("CHANNEL  ")
    assert HOSTILE in table and "behind" in table


def test_lag_without_subscribers_and_of_unknown_channel(run: Run) -> None:
    assert run("lag").stdout == "no subscribers\n"
    result = run("lag", "nope")
    assert result.exit_code == 1
    assert one_line_error(result.stderr) == "Error: channel not found: 'nope'"


def test_clients(run: Run, orders: None) -> None:
    result = run("clients")
    assert result.exit_code == 0
    assert [line.split() for line in result.stdout.splitlines()] == [
        ["CLIENT", "CHANNEL", "INDEX", "LAG", "STATUS"],
        # slow subscribed just now and never read: behind (not stopped, SPEC 8).
        ["fast", "orders", "4", "0", "caught", "up"], ["slow", "orders", "0", "4", "behind"]]
    data = json.loads(run("clients", "--json", "--limit", "1").stdout)
    assert data["total"] == 2
    (fast,) = data["clients"]
    assert (fast["client_id"], fast["channels"], fast["lags"]) == ("fast", {"orders": 4},
                                                                  {"orders": 0})


# -- post and tail ------------------------------------------------------------------------


def test_post_from_argument_and_stdin(run: Run, orders: None, admin: rivulet.Admin) -> None:
    result = run("post", "orders", "five", "--src", "ops team")
    assert (result.exit_code, result.stdout) == (0, "5\n")
    assert run("post", "orders", "-", input="line 1\nline 2\n").stdout == "6\n"
    newest = admin.messages("orders", limit=2)
    assert [(m["data"], m["src"]) for m in newest] == [("line 1\nline 2\n", "cli"),
                                                       ("five", "ops team")]


def test_post_to_unknown_channel_needs_create(run: Run, admin: rivulet.Admin) -> None:
    result = run("post", HOSTILE, "x")
    assert result.exit_code == 1
    assert "pass --create" in one_line_error(result.stderr)
    assert run("post", HOSTILE, "x", "--create").stdout == "1\n"
    assert admin.channel(HOSTILE).message_count == 1


def test_tail_prints_recent_messages_oldest_first(run: Run, orders: None) -> None:
    result = run("tail", "orders", "-n", "2")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert [line.split("  ")[0] for line in lines] == ["3", "4"]
    assert re.fullmatch(r"4  \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ  fast  four", lines[1])
    assert run("tail", "orders", "-n", "0").stdout == ""
    assert len(run("tail", "orders").stdout.splitlines()) == 4


def test_tail_escapes_control_characters_but_json_is_raw(run: Run, admin: rivulet.Admin) -> None:
    data = "two\nlines\x1b[31m \u202eevil\ttab \\ back"
    admin.post(UNICODE, data, src="w", create=True)
    line = run("tail", UNICODE).stdout
    assert line.endswith("  w  two\\nlines\\x1b[31m \\u202eevil\\ttab \\ back\n")
    assert line.count("\n") == 1
    (message,) = [json.loads(x) for x in run("tail", UNICODE, "--json").stdout.splitlines()]
    assert message["data"] == data and message["id"] == 1 and isinstance(message["ts"], int)


def test_tail_of_unknown_channel(run: Run) -> None:
    result = run("tail", "nope")
    assert result.exit_code == 1
    assert one_line_error(result.stderr) == "Error: channel not found: 'nope'"


# -- operator actions ---------------------------------------------------------------------


def test_prune_needs_a_criterion(run: Run, orders: None) -> None:
    result = run("prune", "orders")
    assert result.exit_code == 2
    assert "--upto-id, --older-than, --consumed, --keep-last" in one_line_error(result.stderr)


@pytest.mark.parametrize(("args", "removed"), [
    (["--upto-id", "2"], 2), (["--keep-last", "1"], 3), (["--older-than", "0"], 4),
    (["--older-than", "1h"], 0), (["--consumed"], 0), (["--upto-id", "1", "--keep-last", "2"], 2),
])
def test_prune(run: Run, orders: None, admin: rivulet.Admin, args: list[str],
               removed: int) -> None:
    result = run("prune", "orders", *args)
    assert result.exit_code == 0
    assert result.stdout == f"pruned {removed} message{'' if removed == 1 else 's'} from 'orders'\n"
    assert admin.count("orders") == 4 - removed


def test_delete_with_yes(run: Run, orders: None, admin: rivulet.Admin) -> None:
    result = run("delete", "orders", "--yes")
    assert (result.exit_code, result.stdout) == (0, "deleted channel 'orders'\n")
    assert admin.channels() == []
    assert one_line_error(run("delete", "orders", "-y").stderr)


def test_delete_refuses_to_ask_a_pipe(run: Run, orders: None, admin: rivulet.Admin) -> None:
    result = run("delete", "orders", input="y\n")
    assert result.exit_code == 2
    assert "pass --yes" in one_line_error(result.stderr)
    assert admin.channel("orders").message_count == 4


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
@pytest.mark.parametrize(("answer", "code"), [("n", 1), ("y", 0)])
def test_delete_asks_on_a_terminal(url: str, orders: None, admin: rivulet.Admin,
                                   answer: str, code: int) -> None:
    import pty

    controller, terminal = pty.openpty()
    # The terminal holds the answer until the prompt reads it: no timing involved.
    os.write(controller, f"{answer}\n".encode())
    proc = subprocess.Popen([sys.executable, "-m", "rivulet.cli", "delete", "orders"],
                            stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=script_env(url), cwd=ROOT)
    os.close(terminal)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(controller)
    assert proc.returncode == code, err
    assert err.startswith("Delete channel 'orders' with 4 messages and 2 subscribers? [y/N]")
    if answer == "n":
        # The terminal, not stderr, echoes the answer and its newline.
        assert err.endswith("? [y/N]: Error: channel 'orders' not deleted\n")
        assert admin.channel("orders").message_count == 4
    else:
        assert out == "deleted channel 'orders'\n"
        assert admin.channels() == []


def test_move(run: Run, orders: None, admin: rivulet.Admin) -> None:
    assert run("move", "orders", "slow", "2").stdout == "moved 'slow' in 'orders' to index 2\n"
    assert run("move", "orders", "fast", "EARLIEST").exit_code == 0
    assert {s.client_id: s.index for s in admin.subscribers("orders")} == {"fast": 2, "slow": 2}
    assert run("move", "orders", "slow", "latest").stdout.endswith("index 4\n")
    result = run("move", "orders", "slow", "99")
    assert result.exit_code == 1
    assert "outside [0, 4]" in one_line_error(result.stderr)
    result = run("move", "orders", "nobody", "1")
    assert result.exit_code == 1
    assert "not subscribed" in one_line_error(result.stderr)
    for bad in ("sideways", "-1", "current"):
        result = run("move", "orders", "slow", "--", bad)
        assert result.exit_code == 2, bad
        assert "INDEX" in one_line_error(result.stderr)


def test_remove(run: Run, orders: None, admin: rivulet.Admin) -> None:
    assert run("remove", "orders", "slow").stdout == "removed 'slow' from 'orders'\n"
    result = run("remove", "orders", "slow")
    assert result.exit_code == 1
    assert one_line_error(result.stderr) == "Error: client 'slow' is not subscribed to 'orders'"
    result = run("remove", "orders", "fast")
    assert result.stdout == ("removed 'fast' from 'orders'; it was the last subscriber, "
                             "so the channel was deleted\n")
    assert admin.channels() == []


def test_retention(run: Run, orders: None, admin: rivulet.Admin) -> None:
    assert run("retention", "orders").stdout == "'orders': no message cap, no age cap\n"
    result = run("retention", "orders", "--max-messages", "3")
    assert result.stdout == "'orders': max 3 messages, no age cap; removed 1 now\n"
    # An option left out keeps its cap.
    assert run("retention", "orders", "--max-age", "2h").stdout.startswith(
        "'orders': max 3 messages, max age 2 h 0 min;")
    info = admin.channel("orders")
    assert (info.max_messages, info.max_age, info.message_count) == (3, 7200.0, 3)
    assert run("retention", "orders", "--max-messages", "none").exit_code == 0
    assert (admin.channel("orders").max_messages, admin.channel("orders").max_age) == (None, 7200)
    for args in (["--max-age", "soon"], ["--max-messages", "-3"], ["--max-age", "nan"]):
        result = run("retention", "orders", *args)
        assert result.exit_code == 2, args
        one_line_error(result.stderr)


def test_retention_says_the_caps_stored_not_the_ones_asked(
    run: Run, orders: None, admin: rivulet.Admin
) -> None:
    result = run("retention", "orders", "--max-messages", str(10**30))
    assert result.exit_code == 0, result.stderr
    info = admin.channel("orders")
    assert info.max_messages == 2**53 - 1
    assert f"max {info.max_messages:,} messages" in result.stdout
    assert str(10**30) not in result.stdout.replace(",", "")
    shown = run("retention", "orders").stdout.rstrip("\n")
    assert result.stdout == shown + "; removed 0 now\n"


# -- names, values and failures -----------------------------------------------------------


def test_hostile_and_unicode_names_end_to_end(url: str, admin: rivulet.Admin) -> None:
    for name in (HOSTILE, UNICODE, "-leading dash"):
        assert script(url, "post", "--create", "--", name, "hello <b>").stdout == "1\n"
        (message,) = [json.loads(x) for x in
                      script(url, "tail", "--json", "--", name).stdout.splitlines()]
        assert message["data"] == "hello <b>"
        assert script(url, "delete", "--yes", "--", name).returncode == 0
    assert admin.channels() == []


@pytest.mark.parametrize("name", ["a{b", "..", "x" * 201, "tab\there", ""])
def test_invalid_names_are_usage_errors(run: Run, name: str) -> None:
    for args in (["tail", name], ["post", name, "x"], ["remove", "ch", name]):
        result = run(*args)
        assert result.exit_code == 2, args
        assert "Invalid value for" in one_line_error(result.stderr)


@pytest.mark.parametrize("args", [
    ["nosuch"], ["tail"], ["channels", "--limit", "-1"], ["tail", "ch", "-n", "many"],
    ["prune", "ch", "--older-than", "inf"], ["channels", "--bogus"], ["post", "ch"],
])
def test_usage_errors_exit_2_with_one_line(run: Run, args: list[str]) -> None:
    result = run(*args)
    assert result.exit_code == 2
    assert "--help" in one_line_error(result.stderr)


def test_no_command_is_a_one_line_usage_error(run: Run) -> None:
    result = run()
    assert result.exit_code == 2
    line = one_line_error(result.stderr)
    assert "missing a command" in line and "tail" in line and "--help" in line
    assert run("--help").exit_code == 0


def test_an_empty_src_is_named_as_src(run: Run, url: str) -> None:
    result = run("post", "--redis-url", url, "--src", "", "ch", "x")
    assert result.exit_code == 2
    assert "src must be" in one_line_error(result.stderr)


def test_bad_redis_url_is_a_usage_error(run: Run) -> None:
    result = run("channels", "--redis-url", "http://example.com")
    assert result.exit_code == 2
    assert "--redis-url" in one_line_error(result.stderr)


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_every_command_fails_in_one_line_when_redis_is_down(
        run: Run, args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_module, "RETRY", rivulet.RetryPolicy(budget_s=0.1))
    result = run(*args, env={"RIVULET_REDIS_URL": closed_url()})
    assert result.exit_code == 1
    assert "cannot reach Redis" in one_line_error(result.stderr)


def test_redis_down_through_the_real_process_within_seconds() -> None:
    started = time.monotonic()
    down = closed_url().replace("redis://", "redis://user:secret@")
    result = script(down, "channels")
    assert time.monotonic() - started < 15
    assert result.returncode == 1
    line = one_line_error(result.stderr)
    assert "cannot reach Redis" in line and "user:***@" in line and "secret" not in line


def test_url_comes_from_rivulet_redis_url_then_redis_url(url: str, run: Run,
                                                         orders: None) -> None:
    both = run("channels", "--json", env={"RIVULET_REDIS_URL": url, "REDIS_URL": closed_url()})
    assert json.loads(both.stdout)["total"] == 1
    fallback = run("channels", "--json", env={"RIVULET_REDIS_URL": None, "REDIS_URL": url})
    assert json.loads(fallback.stdout)["total"] == 1
    flag = run("channels", "--redis-url", closed_url())
    assert flag.exit_code == 1


def test_output_on_an_ascii_terminal_is_escaped_not_fatal(url: str,
                                                          admin: rivulet.Admin) -> None:
    admin.post(UNICODE, "日本", src="w", create=True)
    # A C locale also hands the non-ASCII argument over as surrogate escapes.
    latin1 = {"PYTHONIOENCODING": "latin-1", "PYTHONUTF8": "0", "LC_ALL": "C"}
    table = script(url, "tail", UNICODE, **latin1)
    assert table.returncode == 0, table.stderr
    assert table.stdout.endswith("  w  \\u65e5\\u672c\n")
    as_json = script(url, "channels", "--json", **latin1)
    assert json.loads(as_json.stdout)["channels"][0]["name"] == UNICODE


# -- tail --follow ------------------------------------------------------------------------


class Lines:
    """A child's stdout read line by line on a thread, waited on with a deadline."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        assert proc.stdout is not None
        stdout = proc.stdout
        threading.Thread(target=self._read, args=(stdout,), daemon=True).start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self._queue.put(line)
        self._queue.put(None)

    def until(self, predicate: Callable[[str], bool], timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"timed out; saw {self.seen!r}") from None
            if line is None:
                raise AssertionError(f"stdout closed; saw {self.seen!r}")
            self.seen.append(line)
            if predicate(line):
                return line


def _default_sigint() -> None:
    # A shell without job control starts background jobs (a CI runner's
    # pytest, say) with SIGINT ignored, and children inherit that: Ctrl-C
    # would then be lost on the way to the command under test.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def follow(url: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "rivulet.cli", "tail", "--follow", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            encoding="utf-8", env=script_env(url), cwd=ROOT,
                            preexec_fn=_default_sigint)


@pytest.mark.parametrize("as_json", [False, True], ids=["table", "json"])
def test_follow_prints_messages_written_after_it_started(url: str, admin: rivulet.Admin,
                                                         connect: Callable[..., rivulet.Client],
                                                         as_json: bool) -> None:
    admin.post(HOSTILE, "before", create=True)
    proc = follow(url, "-n", "1", *(["--json"] if as_json else []), "--", HOSTILE)
    lines = Lines(proc)
    try:
        # tail subscribes to wake-ups before its first look, so once the old
        # message is out, anything written next must arrive.
        lines.until(lambda line: "before" in line)
        admin.post(HOSTILE, "after\x1b")
        line = lines.until(lambda line: "after" in line)
        if as_json:
            assert json.loads(line)["data"] == "after\x1b"
        else:
            assert line.endswith("  after\\x1b\n")
        # A burst larger than one page arrives whole and in order.
        writer = connect("writer", [HOSTILE])
        ids = writer.write(HOSTILE, [f"burst {i}" for i in range(1200)])
        lines.until(lambda line: "burst 1199" in line)
        burst = [x for x in lines.seen if "burst" in x]
        got = [json.loads(x)["id"] if as_json else int(x.split()[0]) for x in burst]
        assert got == ids
        proc.send_signal(signal.SIGINT)  # Ctrl-C: a quiet exit, 130 as shells report it
        assert proc.wait(timeout=20) == 130
        # click ends the interrupted line; nothing else (no "aborted", no traceback).
        assert proc.stderr is not None and proc.stderr.read().strip() == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_follow_picks_up_a_recreated_channel(url: str, admin: rivulet.Admin) -> None:
    for i in range(3):
        admin.post("ch", f"old {i}", create=True)
    proc = follow(url, "-n", "1", "ch")
    lines = Lines(proc)
    try:
        lines.until(lambda line: "old 2" in line)
        admin.delete_channel("ch")
        admin.post("ch", "new 0", create=True)  # ids start again at 1
        assert lines.until(lambda line: "new 0" in line).startswith("1  ")
    finally:
        proc.kill()
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_follow_stops_quietly_when_its_reader_goes_away(url: str, admin: rivulet.Admin) -> None:
    admin.post("ch", "first", create=True)
    proc = follow(url, "-n", "1", "ch")
    assert proc.stdout is not None and proc.stderr is not None
    try:
        assert "first" in proc.stdout.readline()
        proc.stdout.close()  # as `| head -1` does
        admin.post("ch", "nobody reads this")
        assert proc.wait(timeout=20) == 1
        assert proc.stderr.read() == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()


# -- the entry point and the lazy dashboard -----------------------------------------------


def test_console_script_entry_point(url: str, orders: None) -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^rivulet = "rivulet\.cli:main"$', pyproject, re.MULTILINE)
    # What the generated `rivulet` wrapper runs.
    wrapper = "import sys; from rivulet.cli import main; sys.exit(main())"
    result = subprocess.run([sys.executable, "-c", wrapper, "channels", "--json"],
                            capture_output=True, text=True, env=script_env(url), cwd=ROOT,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["total"] == 1
    usage = subprocess.run([sys.executable, "-c", wrapper, "lag", "a{b"], capture_output=True,
                           text=True, env=script_env(url), cwd=ROOT, timeout=60)
    assert usage.returncode == 2 and one_line_error(usage.stderr)


def test_installed_rivulet_command(url: str, orders: None) -> None:
    found = shutil.which("rivulet", path=os.pathsep.join(
        [str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if found is None:
        pytest.skip("the package is not installed (pip install -e .)")
    result = subprocess.run([found, "lag", "orders", "--json"], capture_output=True, text=True,
                            env=script_env(url), timeout=60)
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["subscribers"]) == 2
    assert subprocess.run([found, "--version"], capture_output=True, text=True,
                          timeout=60).stdout.strip().endswith(rivulet.__version__)


def test_commands_other_than_dashboard_do_not_import_it(url: str, orders: None) -> None:
    code = ("import sys; from rivulet.cli import main; code = main(['channels']); "
            "sys.exit(code or 10 * any(m == 'flask' or m.startswith('dashboard') "
            "for m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=script_env(url), cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr


def test_dashboard_command_is_loaded_when_run(run: Run, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "fake_rivulet_dashboard_cli.py").write_text(
        "import click\n\n@click.command()\n@click.option('--port', type=int)\n"
        "def dashboard(port):\n    'Serve it.'\n    click.echo(f'serving on {port}')\n",
        encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(cli_module.LAZY_COMMANDS, "dashboard",
                        ("fake_rivulet_dashboard_cli", "dashboard"))
    assert run("dashboard", "--port", "5").stdout == "serving on 5\n"
    assert "Serve it." in run("--help").stdout
    assert run("dashboard", "--port", "x").exit_code == 2


def test_missing_dashboard_is_one_line_error(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cli_module.LAZY_COMMANDS, "dashboard",
                        ("no_such_module_for_rivulet", "dashboard"))
    result = run("dashboard")
    assert result.exit_code == 1
    assert "'dashboard' is not available" in one_line_error(result.stderr)
    help_text = run("--help").stdout
    assert "channels" in help_text and "dashboard" not in help_text
