"""The Lua scripts, loaded once from their files, and how to run them.

Each script file is sent with ``_lib.lua`` in front of it. Calls go by EVALSHA;
after NOSCRIPT (a restarted or flushed server) the script is loaded and the
call sent again, which is safe because a NOSCRIPT call never ran.

The same source also makes a Redis Functions library (:attr:`Script.library`,
Redis >= 7): the fast path (:mod:`rivulet.fastpath`) calls the write that
way, single writes and the Producer's rounds alike, since EVALSHA defines
``_lib.lua``'s twenty functions again on every call and FCALL defined them
once, at FUNCTION LOAD: about 1.8 us of the write script's 13 us of server
time.

Pipelines are run here rather than through redis-py's ``Script`` objects: its
pipelines ask ``SCRIPT EXISTS`` before every execute, a second round trip.

On a Redis Cluster every call is routed here too, by the slot of its first
key, to a plain pipeline per node (sent in parallel): redis-py's cluster
pipeline asks its default node ``COMMAND GETKEYS`` for every queued EVALSHA,
one extra round trip per call that also fails the whole pipeline when that
node is down. See :mod:`.routing`.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any

import redis.exceptions as rex

from ..exceptions import RivuletError, translate
from ..retry import RetryPolicy
from . import routing

log = logging.getLogger("rivulet")

KeyT = str
ArgT = str | int | float | bytes

_LIB = resources.files(__name__).joinpath("_lib.lua").read_text(encoding="utf-8")


class Script:
    """One Lua script from this folder."""

    def __init__(self, name: str, as_function: bool = False) -> None:
        self.name = name
        #: Called by FCALL where the fast path can (:mod:`rivulet.fastpath`):
        #: only for scripts that may be refused outright when Redis is full
        #: and on a replica, as a function without flags is (the write).
        self.as_function = as_function
        body = resources.files(__name__).joinpath(f"{name}.lua").read_text(encoding="utf-8")
        self.source = f"{_LIB}\n{body}"
        self.sha = hashlib.sha1(self.source.encode("utf-8"), usedforsecurity=False).hexdigest()
        #: The FCALL name of this script, named by its source's sha so that
        #: clients of different rivulet versions on one server never meet.
        self.function = f"rvl_{name}_{self.sha[:16]}"
        self.library = _library(self.function, body)

    def __call__(self, redis: Any, keys: Sequence[KeyT], args: Sequence[ArgT]) -> Any:
        if routing.is_cluster(redis):
            # Straight to the node owning the slot: no COMMAND GETKEYS.
            return routing.on_node(redis, keys[0], lambda node: self._call(node, keys, args))
        return self._call(redis, keys, args)

    def _call(self, redis: Any, keys: Sequence[KeyT], args: Sequence[ArgT]) -> Any:
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


def _library(function: str, body: str) -> str:
    """FUNCTION LOAD source running ``body`` as ``function``.

    Two differences from EVAL, both handled here: ``_lib.lua``'s top level
    runs once, at load, where no ``table`` global exists (so ``unpack`` is
    looked up at call time); and its locals outlive a call, so the one that
    holds state for one call (``now_ms``'s cached server time) is cleared as
    each call starts.
    """
    lib = _LIB.replace("local unpack = table.unpack or unpack",
                       "local unpack = function(...) return (table.unpack or unpack)(...) end")
    if lib == _LIB:
        raise RuntimeError("_lib.lua's unpack line changed: update scripts._library")
    return (f"#!lua name={function}\n{lib}\n"
            f"redis.register_function('{function}', function(KEYS, ARGV)\n"
            f"_now_ms = nil\n{body}\nend)\n")


class _Call:
    """One queued call: what to send, and the key that routes it."""

    __slots__ = ("constant", "key", "script", "send")

    def __init__(self, script: Script | None, key: KeyT | None,
                 send: Callable[[Any], Any] | None, constant: Any = None) -> None:
        self.script = script
        self.key = key
        self.send = send
        self.constant = constant


class Batch:
    """Commands sent together in one non-transactional pipeline (one per
    node on a cluster, in parallel).

    Script calls that meet NOSCRIPT are loaded and sent again; calls whose
    reply is a transient error (a dropped link, MOVED, CLUSTERDOWN, ...) are
    sent again alone, after a topology refresh on a cluster, within the
    retry budget. Nothing that already ran is sent twice.
    """

    def __init__(self) -> None:
        self._calls: list[_Call] = []
        self._only_script: tuple[Script, list[KeyT], list[ArgT]] | None = None

    def script(self, script: Script, keys: Sequence[KeyT], args: Sequence[ArgT]) -> int:
        """Queue a script call; returns its position in the results."""
        keys, args = list(keys), list(args)
        self._only_script = (script, keys, args) if not self._calls else None
        self._calls.append(_Call(script, keys[0] if keys else None, lambda pipe: pipe.evalsha(
            script.sha, len(keys), *keys, *args)))
        return len(self._calls) - 1

    def command(self, name: str, *args: Any, **kwargs: Any) -> int:
        """Queue a plain command (``pipe.<name>(*args, **kwargs)``) whose first
        argument is its key; returns its position."""
        self._only_script = None
        self._calls.append(_Call(None, args[0] if args else None,
                                 lambda pipe: getattr(pipe, name)(*args, **kwargs)))
        return len(self._calls) - 1

    def wait(self, key: KeyT, replicas: int, timeout_ms: int) -> int:
        """Queue ``WAIT replicas timeout_ms`` on the node holding ``key`` (the
        node a write before it in this batch went to); returns its position."""
        self._only_script = None
        self._calls.append(_Call(None, key, lambda pipe: pipe.wait(replicas, timeout_ms)))
        return len(self._calls) - 1

    def constant(self, value: Any) -> int:
        """Hold a place in the results for a value known without asking Redis."""
        self._only_script = None
        self._calls.append(_Call(None, None, None, value))
        return len(self._calls) - 1

    def __len__(self) -> int:
        return len(self._calls)

    def execute(self, redis: Any) -> list[Any]:
        """Run everything once; each result is a value or the exception it raised."""
        if not self._calls:
            return []
        if self._only_script is not None:
            # One script call needs no pipeline (and its Python overhead).
            script, keys, args = self._only_script
            try:
                return [script(redis, keys, args)]
            except rex.RedisError as error:
                return [error]
        results: list[Any] = [call.constant for call in self._calls]
        self._send(redis, list(range(len(self._calls))), results)
        return results

    def run(self, redis: Any, retry: RetryPolicy, what: str, strict: bool = True) -> list[Any]:
        """Execute under ``retry``: transient failures are sent again, only
        those calls (after a topology refresh on a cluster); errors come back
        translated (``strict``: raised)."""

        def attempt(todo: list[int], again: bool) -> list[Any]:
            if not again:
                return self.execute(redis)
            results: list[Any] = [None] * len(self._calls)
            self._send(redis, todo, results)
            return [results[i] for i in todo]

        refresh = (lambda: routing.refresh(redis)) if routing.is_cluster(redis) else None
        try:
            results = retry.run_each(len(self._calls), attempt, what, refresh)
        except RivuletError:
            raise
        except Exception as error:  # redis-py's own trouble, raised rather than returned
            raise translate(error) from error
        for i, result in enumerate(results):
            if isinstance(result, Exception):
                if strict:
                    raise translate(result) from result
                results[i] = translate(result)
        return results

    def _send(self, redis: Any, indices: list[int], results: list[Any]) -> None:
        """Send the calls at ``indices`` (constants excepted), NOSCRIPT ones
        twice; store each reply or error in ``results``."""
        sent = [i for i in indices if self._calls[i].send is not None]
        if not sent:
            return
        if routing.is_cluster(redis):
            groups = routing.group_by_node(redis, [self._calls[i].key for i in sent], sent,
                                           results)
        else:
            groups = [(redis, sent)]
        routing.in_parallel([functools.partial(self._send_to, conn, group, results)
                             for conn, group in groups])
        if routing.is_cluster(redis):
            # ASK: the slot is migrating and this key is on the importing node
            # already. One hop there, each call after ASKING; no refresh, the
            # slot table is still right.
            asked = routing.group_asked(redis, sent, results)
            routing.in_parallel([functools.partial(self._send_to, conn, group, results, True)
                                 for conn, group in asked])

    def _send_to(self, conn: Any, indices: list[int], results: list[Any],
                 asking: bool = False) -> None:
        """One pipeline to one server; NOSCRIPT calls are loaded there and resent."""
        for i, reply in zip(indices, self._pipeline(conn, indices, asking)):
            results[i] = reply
        missing = [i for i in indices if isinstance(results[i], rex.NoScriptError)]
        if not missing:
            return
        try:
            for needed in {self._calls[i].script for i in missing}:
                if needed is not None:
                    needed.load(conn)
        except rex.RedisError as error:
            for i in missing:
                results[i] = error
            return
        for i, reply in zip(missing, self._pipeline(conn, missing, asking)):
            results[i] = reply

    def _pipeline(self, conn: Any, indices: list[int], asking: bool = False) -> list[Any]:
        pipe = conn.pipeline(transaction=False)
        for i in indices:
            send = self._calls[i].send
            assert send is not None
            if asking:
                pipe.execute_command("ASKING")
            send(pipe)
        try:
            replies = list(pipe.execute(raise_on_error=False))
            return replies[1::2] if asking else replies
        except rex.RedisError as error:
            # The link failed: none of these replies arrived.
            return [error] * len(indices)
        except BaseException:
            # Interrupted between a send and its replies (KeyboardInterrupt),
            # or redis-py tripped over a connection in such a state: the
            # pipeline handed its connection back with replies still on
            # their way. Drop the pool's idle connections, that one among
            # them, so no later call reads those replies as its own.
            pool = getattr(conn, "connection_pool", None)
            if pool is not None:
                pool.disconnect(inuse_connections=False)
            raise



WRITE = Script("write", as_function=True)
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
LAGSCAN = Script("lagscan")
SET_HISTORY = Script("set_history")
