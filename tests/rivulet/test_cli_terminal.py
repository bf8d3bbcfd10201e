"""Issue 12 at the terminal: option order, formats shared with the dashboard,
``check`` thresholds, ``lag --watch`` under a pseudo-terminal, colour rules,
and what ``post -`` says about stdin's newline."""

from __future__ import annotations

import dataclasses
import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from dashboard import formatting as dashboard_formatting
from rivulet import formatting, keys
from rivulet.cli import checks as check_module
from rivulet.cli import output, watch
from rivulet.models import SubscriberInfo

from . import test_cli as base
from .test_cli import Run, closed_url, one_line_error, script_env

# test_cli's fixtures, shared by name (pytest finds them in this module's namespace).
store = base.store
url = base.url
run = base.run
connect = base.connect
admin = base.admin
orders = base.orders


def age_slow(store: Any) -> None:
    """Age `orders`' slow reader: it read and subscribed ten minutes ago, past the
    Admin's stop_after (60 s), with 4 unread: a real ``stopped`` (red) status.
    Just subscribed and never read it is only ``behind``."""
    ten_min_ago = formatting.now_ms() - 600_000
    store.zadd(keys.read_key("orders"), {"slow": ten_min_ago})
    store.hset(keys.history_settings_key("orders"), "s:slow", ten_min_ago)


@pytest.fixture
def slow_gone(store: Any, orders: None) -> None:
    age_slow(store)


def test_redis_url_is_accepted_before_the_command(run: Run, url: str, orders: None) -> None:
    nowhere = {"RIVULET_REDIS_URL": closed_url()}
    before = run("--redis-url", url, "channels", env=nowhere)
    assert before.exit_code == 0, before.output
    assert "orders" in before.stdout
    # Given after the command it wins, as the command's own option always did.
    both = run("--redis-url", closed_url(), "lag", "orders", "--redis-url", url)
    assert both.exit_code == 0, both.output
    # And the group's option beats the environment for every command.
    failed = run("--redis-url", closed_url(), "channels")
    assert failed.exit_code == 1
    assert "cannot" in one_line_error(failed.stderr) or "Error" in failed.stderr


@pytest.mark.parametrize("seconds", [None, 0, 0.25, 9.94, 42, 299, 3725, 2 * 86400 + 7200])
def test_cli_and_dashboard_write_durations_alike(seconds: float | None) -> None:
    assert output.duration(seconds) == dashboard_formatting.duration(seconds)


def test_cli_and_dashboard_write_times_alike() -> None:
    for ts in (None, 0, 1_796_106_203_249):
        assert output.utc_time(ts) == dashboard_formatting.iso_time(ts)
        assert output.ago(ts, 1_796_106_503_249) == dashboard_formatting.ago(ts, 1_796_106_503_249)
    assert output.count(None) == dashboard_formatting.count(None) == "—"


def test_lag_table_uses_the_shared_formats(run: Run, orders: None) -> None:
    table = run("lag", "orders").stdout
    slow = next(line for line in table.splitlines() if line.startswith("slow"))
    # Never read, just subscribed: behind (not stopped, inside its first stop_after).
    assert "never" in slow and slow.endswith("behind")
    assert " s " in slow and "-" not in slow.replace("caught up", "")


def test_post_from_stdin_says_it_kept_the_trailing_newline(run: Run, orders: None,
                                                          admin: Any) -> None:
    said = run("post", "orders", "-", input="hello\n")
    assert said.exit_code == 0
    assert "newline" in said.stderr and "echo -n" in said.stderr
    assert admin.messages("orders", limit=1)[0]["data"] == "hello\n"
    quiet = run("post", "orders", "-", input="hello")
    assert quiet.exit_code == 0 and quiet.stderr == ""


# -- check ------------------------------------------------------------------

def test_check_by_default_flags_red_statuses(run: Run, orders: None, store: Any) -> None:
    # A new subscriber that has not read yet is behind (amber): not an offence.
    fresh = run("check")
    assert fresh.exit_code == 0, fresh.output
    assert fresh.stdout == "ok: 2 subscribers within thresholds\n"
    age_slow(store)
    result = run("check")
    assert result.exit_code == 1, result.output
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["CHANNEL", "CLIENT", "LAG", "STATUS", "OFFENCE"]
    assert len(rows) == 1 and rows[0].split()[:4] == ["orders", "slow", "4", "stopped"]
    assert rows[0].endswith("status stopped")


def test_check_max_lag_threshold(run: Run, orders: None) -> None:
    # Crossing means more than N: 4 behind is within --max-lag 4.
    ok = run("check", "--max-lag", "4")
    assert ok.exit_code == 0, ok.output
    assert ok.stdout == "ok: 2 subscribers within thresholds\n"
    over = run("check", "orders", "--max-lag", "3")
    assert over.exit_code == 1
    (row,) = over.stdout.splitlines()[1:]
    assert row.startswith("orders") and "slow" in row and "lag 4 > 3" in row


def test_check_status_and_seconds_thresholds(run: Run, slow_gone: None) -> None:
    assert run("check", "--status", "behind").exit_code == 0  # slow is stopped, not behind
    assert run("check", "--status", "behind,stopped").exit_code == 1
    assert run("check", "--max-lag-seconds", "1d").exit_code == 0


def test_check_bad_input_and_unknown_channel(run: Run, orders: None) -> None:
    bad = run("check", "--status", "sleepy")
    assert bad.exit_code == 2
    assert "sleepy" in one_line_error(bad.stderr)
    assert run("check", "--max-lag", "-1").exit_code == 2
    assert run("check", "--max-lag-seconds", "soon").exit_code == 2
    missing = run("check", "orders", "nope")
    assert missing.exit_code == 1
    assert "nope" in one_line_error(missing.stderr)


def test_check_offences_for_lag_seconds() -> None:
    row = SubscriberInfo(channel="c", client_id="x", index=1, lag=3, pending=3,
                         lag_seconds=600.0, last_read_ts=None, beyond_head=False)
    assert check_module.offences(row, None, 300.0, ()) == [
        "lag time 10 min 0 s > 5 min 0 s"]
    assert check_module.offences(row, None, 600.0, ()) == []
    # Every unread message pruned: lag_seconds is the history's time since the
    # head passed the index, and it still counts.
    none_pending = dataclasses.replace(row, pending=0)
    assert check_module.offences(none_pending, None, 300.0, ()) == [
        "lag time 10 min 0 s > 5 min 0 s"]
    # Caught up: no lag time, whatever the field says.
    caught_up = dataclasses.replace(row, index=4, lag=0, pending=0)
    assert check_module.offences(caught_up, None, 300.0, ()) == []
    # The status is the row's own field.
    stopped = dataclasses.replace(row, status="stopped")
    assert check_module.offences(stopped, None, None, ("stopped",)) == ["status stopped"]
    assert check_module.offences(row, None, None, ("stopped",)) == []


# -- colour -----------------------------------------------------------------

class _Tty:
    def isatty(self) -> bool:
        return True


def test_status_colour_only_on_a_tty_and_never_under_no_color(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert output.status_cell("stalled") == "stalled"  # pytest's stdout is no terminal
    monkeypatch.setattr(sys, "stdout", _Tty())
    assert output.status_cell("stalled") == "\x1b[31mstalled\x1b[0m"
    assert output.status_cell("behind") == "\x1b[33mbehind\x1b[0m"
    assert output.status_cell("caught up") == "\x1b[32mcaught up\x1b[0m"
    monkeypatch.setenv("NO_COLOR", "1")
    assert output.status_cell("stalled") == "stalled"


def test_coloured_cells_keep_columns_aligned() -> None:
    coloured = formatting.ansi_status("stalled", colour=True)
    text = output.table(["A", "B"], [[coloured, "1"], ["caught up", "2"]])
    first, second = text.splitlines()[1:]
    visible = first.replace("\x1b[31m", "").replace("\x1b[0m", "")
    assert visible.rindex("1") == second.rindex("2")


# -- long names at a terminal -----------------------------------------------

LONG_ID = "reader-" + "x" * 180 + "-tail"


def test_a_table_wider_than_the_terminal_shortens_its_names_in_the_middle() -> None:
    rows = [[LONG_ID, "1,234", "caught up"], ["short", "5", "behind"]]
    text = output.table(["CLIENT", "LAG", "STATUS"], rows, right=(1,), columns=60)
    lines = text.splitlines()
    assert max(output.width(line) for line in lines) <= 60
    shortened = lines[1].split("  ")[0]
    assert shortened.startswith("reader-x") and shortened.endswith("x-tail")
    assert "…" in shortened
    assert "1,234" in lines[1] and "caught up" in lines[1]  # numbers and statuses whole
    assert lines[2].startswith("short ")
    # Piped output (no terminal width) keeps every name whole.
    assert LONG_ID in output.table(["CLIENT", "LAG", "STATUS"], rows, right=(1,))


def test_a_totals_row_is_never_shortened_and_sets_its_columns_floor() -> None:
    total = "TOTAL (10,001 of 10,001 channels)"
    rows = [[LONG_ID, "7"], [total, "7"]]
    lines = output.table(["CHANNEL", "LAG"], rows, right=(1,), columns=40,
                         whole=(1,)).splitlines()
    assert lines[2].startswith(total + " ")
    assert "…" in lines[1] and output.width(lines[1]) == output.width(lines[2])


def test_shortening_counts_wide_characters_as_two_columns() -> None:
    cut = output.shorten("名" * 40, 21)
    assert output.width(cut) <= 21 and cut.startswith("名") and cut.endswith("名")
    assert output.shorten("fits", 21) == "fits"


def test_lag_at_a_terminal_fits_it_and_piped_keeps_the_whole_id(
        url: str, orders: None, connect: Callable[..., Any], run: Run) -> None:
    connect(LONG_ID, ["orders"])
    env = script_env(url, TERM="xterm", COLUMNS="100", NO_COLOR="1")
    term = Pty([sys.executable, "-m", "rivulet.cli", "lag", "orders"], env)
    try:
        assert term.proc.wait(timeout=30) == 0
        seen = term.until(lambda seen: False, timeout_s=2).decode()
    finally:
        term.close()
    lines = [line for line in seen.splitlines() if line.strip()]
    assert any(line.startswith("reader-x") and "…" in line for line in lines), seen
    assert max(output.width(line) for line in lines) <= 100, seen
    piped = run("lag", "orders")
    assert piped.exit_code == 0 and LONG_ID in piped.stdout


# -- lag --watch ------------------------------------------------------------

class Pty:
    """A child process on a pseudo-terminal, and what it has printed so far."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env,
                                     close_fds=True)
        os.close(slave)
        self.seen = b""

    def until(self, done: Callable[[bytes], bool], timeout_s: float = 20.0) -> bytes:
        """Read until ``done(everything read)``; fail after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while not done(self.seen):
            left = deadline - time.monotonic()
            assert left > 0, f"timed out; saw {self.seen!r}"
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                self.seen += chunk
        return self.seen

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        os.close(self.master)


def test_lag_watch_redraws_in_place_and_ends_cleanly_on_ctrl_c(url: str, slow_gone: None,
                                                              admin: Any) -> None:
    env = script_env(url, TERM="xterm")
    env.pop("NO_COLOR", None)
    term = Pty([sys.executable, "-m", "rivulet.cli", "lag", "--watch", "--interval", "0.2"], env)
    try:
        # Two frames drawn: the second over the first, from the cursor's home.
        term.until(lambda seen: seen.count(watch.HOME.encode()) >= 2)
        admin.set_index("orders", "slow", "latest")  # the next frame shows the change
        term.until(lambda seen: seen.rsplit(watch.HOME.encode(), 1)[-1].count(b"caught up") >= 2)
        term.proc.send_signal(signal.SIGINT)
        assert term.proc.wait(timeout=20) == 130
        seen = term.until(lambda seen: False, timeout_s=5)
    finally:
        term.close()
    assert seen.count(b"\x1b[2J") == 1  # the screen is blanked once, never per frame: no flicker
    assert b"\x1b[31mstopped\x1b[0m" in seen  # the palette, on a terminal
    assert seen.rstrip(b"\r\n").endswith(watch.SHOW_CURSOR.encode())  # the cursor comes back
    assert b"Traceback" not in seen and b"aborted" not in seen


def test_watch_and_json_do_not_mix(run: Run) -> None:
    result = run("lag", "--watch", "--json")
    assert result.exit_code == 2
    assert "--watch" in one_line_error(result.stderr)


def test_paint_overwrites_each_line() -> None:
    assert watch.paint("a\nb") == f"{watch.HOME}a{watch.CLEAR_LINE_END}\nb" \
        f"{watch.CLEAR_LINE_END}\n{watch.CLEAR_BELOW}"


def test_lag_watch_shows_an_outage_and_goes_on(admin: Any, orders: None,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from rivulet.cli import subscribers
    from rivulet.exceptions import TimeoutError as RivuletTimeout

    frames = subscribers.LagFrames(admin, ["orders"], 0.2)
    assert "fast" in frames() and "Error" not in frames()
    real = subscribers.read_subscribers

    def hung(*args: Any) -> Any:
        raise RivuletTimeout("Redis did not answer in time")

    monkeypatch.setattr(subscribers, "read_subscribers", hung)
    during = frames()
    assert "Error: Redis did not answer in time (trying again)" in during
    assert "As read" in during and "fast" in during  # the last table stays on screen
    monkeypatch.setattr(subscribers, "read_subscribers", real)
    after = frames()
    assert "Error" not in after and "fast" in after
