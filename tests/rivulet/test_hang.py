"""A hung Redis (accepts connections, never answers: SIGSTOP) costs a call its
retry budget, not budget plus ``socket_timeout``.

The bound is checked structurally: every socket timeout the connection used
is at most the budget. A thread join with a generous margin guards against a
hang; it is not a speed measurement.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from redis import __version__ as redis_version

import rivulet
from rivulet import cli as cli_module
from rivulet import deadline
from rivulet.cli import cli
from rivulet.urls import redis_from_url

from ..conftest import RedisServer

BUDGET_S = 0.5
#: Far longer than the budget: without the cap a call would wait this long.
SOCKET_TIMEOUT_S = 30.0
#: Only a hang guard: the call ends near its budget, the guard is far beyond.
GUARD_S = 8.0


class HungServer:
    """A redis-server that can be frozen (SIGSTOP) and thawed (SIGCONT)."""

    def __init__(self) -> None:
        self.server = RedisServer()
        self.url = self.server.url
        self.frozen = False

    def _signal(self, sig: int) -> None:
        assert self.server.proc is not None
        self.server.proc.send_signal(sig)

    def freeze(self) -> None:
        self._signal(signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        if self.frozen:
            self._signal(signal.SIGCONT)
            self.frozen = False


@pytest.fixture
def hung() -> Iterator[HungServer]:
    own = HungServer()
    yield own
    own.thaw()  # a stopped process would hold SIGTERM until continued
    own.server.stop()


def outcome(call: Callable[[], Any], guard_s: float = GUARD_S) -> BaseException | None:
    """Run ``call`` in a thread; the exception it raised (None: it returned).
    Fails if it is still running after ``guard_s``: it hung."""
    result: dict[str, BaseException] = {}

    def target() -> None:
        try:
            call()
        except BaseException as error:
            result["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(guard_s)
    assert not thread.is_alive(), f"the call hung for over {guard_s} s"
    return result.get("error")


def timeouts_used(redis: Any) -> list[float | None]:
    """Every socket timeout the client's pooled connections applied."""
    pool = redis.connection_pool
    connections = [*pool._available_connections, *pool._in_use_connections]
    used = [t for c in connections for t in getattr(c, "timeouts_used", [None])]
    assert used, "no connection recorded a timeout"
    return used


def assert_capped(redis: Any, budget_s: float) -> None:
    used = timeouts_used(redis)
    assert all(t is not None and 0 <= t <= budget_s for t in used), used


def policy() -> rivulet.RetryPolicy:
    return rivulet.RetryPolicy(budget_s=BUDGET_S, base_delay_s=0.01, max_delay_s=0.05)


@pytest.fixture
def reader(hung: HungServer) -> Iterator[rivulet.Client]:
    client = rivulet.connect(hung.url, client_id="hung", channel_ids="h/1", retry=policy(),
                             socket_timeout=SOCKET_TIMEOUT_S)
    client.write("h/1", ["before"])
    yield client
    hung.thaw()
    client.close()


def test_write_to_a_hung_redis_raises_within_the_budget(
        hung: HungServer, reader: rivulet.Client) -> None:
    hung.freeze()
    error = outcome(lambda: reader.write("h/1", ["during"]))
    assert isinstance(error, rivulet.TimeoutError), error
    assert_capped(reader.redis, BUDGET_S)


def test_read_now_from_a_hung_redis_raises_within_the_budget(
        hung: HungServer, reader: rivulet.Client) -> None:
    hung.freeze()
    error = outcome(lambda: reader.read(timeout=0))
    assert isinstance(error, rivulet.TimeoutError), error
    assert_capped(reader.redis, BUDGET_S)


def test_a_new_connection_to_a_hung_redis_is_capped_too(hung: HungServer) -> None:
    # Connect and handshake happen inside the call: both are under the cap.
    hung.freeze()
    admin = rivulet.Admin(hung.url, retry=policy(), socket_timeout=SOCKET_TIMEOUT_S,
                          socket_connect_timeout=SOCKET_TIMEOUT_S)
    try:
        error = outcome(admin.channels)
        assert isinstance(error, (rivulet.TimeoutError, rivulet.ConnectionError)), error
        assert_capped(admin.redis, BUDGET_S)
    finally:
        hung.thaw()
        admin.close()


def test_admin_channels_on_a_hung_redis(hung: HungServer) -> None:
    admin = rivulet.Admin(hung.url, retry=policy(), socket_timeout=SOCKET_TIMEOUT_S)
    try:
        assert admin.channels() == []
        hung.freeze()
        error = outcome(admin.channels)
        assert isinstance(error, rivulet.TimeoutError), error
        assert_capped(admin.redis, BUDGET_S)
        hung.thaw()
        # Nothing was lost or left half-read: the next call just works.
        assert admin.channels() == []
    finally:
        hung.thaw()
        admin.close()


def test_cli_on_a_hung_redis_ends_with_its_error(hung: HungServer) -> None:
    # The real CLI budget (README: about 2 s) and redis_from_url's default
    # 10 s socket timeout: the guard sits between the two.
    assert cli_module.RETRY.budget_s < 10
    hung.freeze()
    runner = CliRunner()
    results: list[Any] = []
    error = outcome(lambda: results.append(
        runner.invoke(cli, ["channels"], env={"RIVULET_REDIS_URL": hung.url, "REDIS_URL": None})
    ), guard_s=cli_module.RETRY.budget_s + 5)
    assert error is None
    result = results[0]
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: Redis did not answer in time"), result.stderr


def test_outside_a_budget_nothing_is_capped() -> None:
    assert deadline.time_left() is None
    assert deadline.cap(None) is None
    assert deadline.cap(3.0) == 3.0


def test_a_deadline_caps_and_nests() -> None:
    import time

    now = time.monotonic()
    with deadline.within(now + 100):
        capped = deadline.cap(None)
        assert capped is not None and capped <= 100
        assert deadline.cap(1.0) == 1.0
        with deadline.within(now + 1000):  # an outer, tighter deadline wins
            left = deadline.time_left()
            assert left is not None and left <= 100
    assert deadline.time_left() is None
    with deadline.within(now - 1), pytest.raises(Exception, match="budget is spent"):
        deadline.cap(5.0)


def test_a_spent_budget_drops_the_connection_it_cut_short(redis_server: RedisServer) -> None:
    # A reply left unread would be read by the next command: never reuse it.
    redis = redis_from_url(redis_server.url)
    try:
        # Before redis-py 5.3 the command name was required; from 5.3 it warns.
        old = tuple(int(v) for v in redis_version.split(".")[:2]) < (5, 3)
        connection = redis.connection_pool.get_connection(*(("PING",) if old else ()))
        connection.send_command("PING")
        with deadline.within(0.0), pytest.raises(deadline.BudgetSpent):
            connection.read_response()
        assert connection._sock is None
        redis.connection_pool.release(connection)
        assert redis.ping()
    finally:
        redis.close()
