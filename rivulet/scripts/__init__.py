"""The Lua scripts, loaded once from their files, and how to run them.

Each script file is sent with ``_lib.lua`` in front of it. Calls go by EVALSHA;
after NOSCRIPT (a restarted or flushed server) the script is loaded and the
call sent again, which is safe because a NOSCRIPT call never ran.

Pipelines are run here rather than through redis-py's ``Script`` objects: its
pipelines ask ``SCRIPT EXISTS`` before every execute, a second round trip.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any

import redis.exceptions as rex

from ..exceptions import translate
from ..retry import RetryPolicy

KeyT = str
ArgT = str | int | float | bytes

_LIB = resources.files(__name__).joinpath("_lib.lua").read_text(encoding="utf-8")


class Script:
    """One Lua script from this folder."""

    def __init__(self, name: str) -> None:
        self.name = name
        body = resources.files(__name__).joinpath(f"{name}.lua").read_text(encoding="utf-8")
        self.source = f"{_LIB}\n{body}"
        self.sha = hashlib.sha1(self.source.encode("utf-8"), usedforsecurity=False).hexdigest()

    def __call__(self, redis: Any, keys: Sequence[KeyT], args: Sequence[ArgT]) -> Any:
        try:
            return redis.evalsha(self.sha, len(keys), *keys, *args)
        except rex.NoScriptError:
            self.load(redis)
            return redis.evalsha(self.sha, len(keys), *keys, *args)

    def load(self, redis: Any) -> None:
        # On a cluster redis-py sends SCRIPT LOAD to every primary.
        redis.script_load(self.source)

    def __repr__(self) -> str:
        return f"Script({self.name!r})"


class Batch:
    """Commands sent together in one non-transactional pipeline.

    Script calls that meet NOSCRIPT are loaded and sent again in a second
    pipeline; nothing that already ran is sent twice.
    """

    def __init__(self) -> None:
        self._calls: list[tuple[Script | None, Callable[[Any], Any]]] = []
        self._only_script: tuple[Script, list[KeyT], list[ArgT]] | None = None

    def script(self, script: Script, keys: Sequence[KeyT], args: Sequence[ArgT]) -> int:
        """Queue a script call; returns its position in the results."""
        keys, args = list(keys), list(args)
        self._only_script = (script, keys, args) if not self._calls else None
        # execute_command, not pipe.evalsha: redis-py's cluster pipeline
        # refuses the evalsha method but routes EVALSHA by its keys.
        self._calls.append((script, lambda pipe: pipe.execute_command(
            "EVALSHA", script.sha, len(keys), *keys, *args)))
        return len(self._calls) - 1

    def command(self, name: str, *args: Any, **kwargs: Any) -> int:
        """Queue a plain command (``pipe.<name>(*args, **kwargs)``); returns its position."""
        self._only_script = None
        self._calls.append((None, lambda pipe: getattr(pipe, name)(*args, **kwargs)))
        return len(self._calls) - 1

    def constant(self, value: Any) -> int:
        """Hold a place in the results for a value known without asking Redis."""
        self._only_script = None
        self._calls.append((None, _Constant(value)))
        return len(self._calls) - 1

    def __len__(self) -> int:
        return len(self._calls)

    def execute(self, redis: Any) -> list[Any]:
        """Run everything; each result is a value or the exception it raised."""
        if not self._calls:
            return []
        if self._only_script is not None:
            # One script call needs no pipeline (and its Python overhead).
            script, keys, args = self._only_script
            try:
                return [script(redis, keys, args)]
            except rex.ResponseError as error:
                return [error]
        results = self._send(redis, [call for _, call in self._calls])
        missing = [
            i for i, r in enumerate(results) if isinstance(r, rex.NoScriptError)
        ]
        if missing:
            for needed in {self._calls[i][0] for i in missing}:
                if needed is not None:
                    needed.load(redis)
            again = self._send(redis, [self._calls[i][1] for i in missing])
            for i, result in zip(missing, again):
                results[i] = result
        return results

    def run(self, redis: Any, retry: RetryPolicy, what: str, strict: bool = True) -> list[Any]:
        """Execute under ``retry``; errors come back translated (``strict``: raised)."""
        results = retry.run(lambda: self.execute(redis), what)
        for i, result in enumerate(results):
            if isinstance(result, Exception):
                if strict:
                    raise translate(result) from result
                results[i] = translate(result)
        return results

    @staticmethod
    def _send(redis: Any, calls: list[Callable[[Any], Any]]) -> list[Any]:
        sent = [call for call in calls if not isinstance(call, _Constant)]
        replies = iter(Batch._pipeline(redis, sent) if sent else [])
        return [call.value if isinstance(call, _Constant) else next(replies) for call in calls]

    @staticmethod
    def _pipeline(redis: Any, calls: list[Callable[[Any], Any]]) -> list[Any]:
        pipe = redis.pipeline(transaction=False)
        for call in calls:
            call(pipe)
        return list(pipe.execute(raise_on_error=False))


class _Constant:
    """A result slot filled without a command."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __call__(self, pipe: Any) -> None:
        raise AssertionError("constants are never sent")


WRITE = Script("write")
READ = Script("read")
COMMIT = Script("commit")
SUBSCRIBE = Script("subscribe")
UNSUBSCRIBE = Script("unsubscribe")
INFO = Script("info")
SUBSCRIBERS = Script("subscribers")
DELETE = Script("delete")
SET_INDEX = Script("set_index")
PRUNE = Script("prune")
RETENTION = Script("retention")
