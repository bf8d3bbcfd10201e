"""Redis URLs: where to connect by default, how to connect, how to print one.

Everything here reads a URL the way redis-py will (``redis.connection.parse_url``
and the connection arguments it yields), never by pattern: a password holding
an unencoded ``/``, ``#`` or ``?`` moves the URL's boundaries, and only the
parser knows where they end up. A printed URL is rebuilt from the parsed
arguments, so a password, or a piece of one, cannot slip through.

``redis+cluster://`` and ``rediss+cluster://`` select redis-py's
``RedisCluster``; ``node=host:port`` query values add seed nodes.
"""

from __future__ import annotations

import codecs
import dataclasses
import os
import re
import time
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import redis as redis_py
import redis.connection
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisClusterException
from redis.retry import Retry

from .deadline import CAPPED, within
from .exceptions import ConnectionError, translate

DEFAULT_URL = "redis://localhost:6379/0"
DEFAULT_PORT = 6379
#: Cluster scheme -> the plain scheme redis-py parses it as.
CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
SCHEMES = "redis://, rediss://, unix://, redis+cluster://, rediss+cluster://"
#: What an invalid URL error says instead of redis-py's text, which can
#: quote the piece of a password it tried to read as a port or a database.
ENCODE_HINT = (
    "its host, port or database does not parse; percent-encode '/', '?', '#', '@', "
    "':', '%' and spaces in the user name and password (e.g. '/' as %2F)"
)


@dataclasses.dataclass(frozen=True)
class Target:
    """What redis-py will connect to, as its URL parser reads the URL."""

    scheme: str
    #: redis-py's connection arguments (host, port, db, username, password, path, ...).
    options: dict[str, Any]
    #: Cluster seed nodes, the URL's own host first; empty for a standalone URL.
    seeds: tuple[tuple[str, int], ...] = ()

    @property
    def cluster(self) -> bool:
        return self.scheme in CLUSTER_SCHEMES

    def masked(self) -> str:
        """The URL rebuilt from what redis-py uses, any password as ``***``."""
        options = self.options
        username, password = options.get("username"), options.get("password")
        if password:
            userinfo = f"{quote(username or '', safe='')}:***@"
        elif username:
            # Some clients read a lone userinfo as the password: hide it too.
            userinfo = "***@"
        else:
            userinfo = ""
        if "path" in options:
            # unix://user:***@/path reads badly: the password goes in the query.
            secret = "&password=***" if password else ""
            who = "***@" if username and not password else ""
            return f"unix://{who}{options['path']}?db={options.get('db', 0)}{secret}"
        if self.cluster:
            first, *others = self.seeds
            nodes = "&".join(f"node={_hostport(*node)}" for node in others)
            return f"{self.scheme}://{userinfo}{_hostport(*first)}" + (f"?{nodes}" if nodes else "")
        where = _hostport(options.get("host", "localhost"), options.get("port", DEFAULT_PORT))
        return f"{self.scheme}://{userinfo}{where}/{options.get('db', 0)}"


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _misread(scheme: str, rest: str, split: Any) -> bool:
    """True for a URL redis-py would read, but not as written: an unencoded
    ``/``, ``#`` or ``@`` in a password moves the rest of it into the path,
    fragment or query (``redis://:p@ss/w#rd@host`` reads as host ``ss``), and
    a connection error would then print that piece as the host."""
    if "#" in rest:
        return True  # no Redis URL has a fragment
    if scheme != "unix" and not re.fullmatch(r"/?\d*", unquote(split.path)):
        return True  # a database number is all a path holds
    return any("@" in part and "=" not in part for part in split.query.split("&"))


def parse(url: str) -> Target:
    """Read ``url`` as redis-py will.

    :raises ValueError: the URL is invalid; the message quotes none of it.
    """
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    plain = CLUSTER_SCHEMES.get(scheme, scheme)
    if not sep or plain not in ("redis", "rediss", "unix"):
        raise ValueError(f"invalid Redis URL: the scheme must be one of {SCHEMES}")
    try:
        options = dict(redis.connection.parse_url(f"{plain}://{rest}"))  # type: ignore[no-untyped-call]
        split = urlsplit(f"{plain}://{rest}")
        query = parse_qs(split.query)
    except ValueError:
        raise ValueError(f"invalid Redis URL: {ENCODE_HINT}") from None
    if _misread(plain, rest, split):
        raise ValueError(f"invalid Redis URL: {ENCODE_HINT}")
    # parse_url keeps only the first node=; the seeds are all of them.
    options.pop("node", None)
    if scheme not in CLUSTER_SCHEMES:
        return Target(plain, options)
    if options.get("db", 0) != 0:
        raise ValueError("invalid Redis URL: a cluster has only database 0")
    seeds = [(options.get("host", "localhost"), int(options.get("port", DEFAULT_PORT)))]
    for node in query.get("node", []):
        host, colon, port = node.rpartition(":")
        host = host.strip("[]")
        if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
            # Not quoted: a mis-encoded password can end up in the query.
            raise ValueError("invalid Redis URL: each node= must be host:port")
        seeds.append((host, int(port)))
    return Target(scheme, options, tuple(seeds))


def redis_url_from_env() -> str:
    """``RIVULET_REDIS_URL``, then ``REDIS_URL``, then the local default."""
    return os.environ.get("RIVULET_REDIS_URL") or os.environ.get("REDIS_URL") or DEFAULT_URL


def redis_from_url(url: str | None = None, **redis_args: Any) -> Any:
    """A redis-py client (``RedisCluster`` for a cluster URL) with redis-py's
    own retries off, because rivulet retries itself, and socket timeouts
    capped at each call's remaining budget (:mod:`rivulet.deadline`).

    :raises ValueError: the URL is invalid (the message quotes none of it).
    :raises ConnectionError: no cluster seed node answered.
    """
    url = url or redis_url_from_env()
    target = parse(url)
    redis_args.setdefault("socket_connect_timeout", 2.0)
    redis_args.setdefault("socket_timeout", 10.0)
    redis_args["retry"] = Retry(NoBackoff(), 0)
    chosen = target.options.get("connection_class", redis.connection.Connection)
    redis_args.setdefault("connection_class", CAPPED.get(chosen, chosen))
    if target.cluster:
        return _cluster(target, redis_args)
    return redis_py.Redis.from_url(url, **redis_args)


class Cluster(RedisCluster):
    """RedisCluster that closes its node pools: built "from a URL", each
    node's Redis was handed its pool, and a Redis never closes a pool it was
    handed, which would leave the sockets open."""

    def close(self) -> None:
        if not hasattr(self, "nodes_manager"):
            # Its __init__ failed (no seed answered); redis-py's __del__
            # still calls close, which before 5.1 would then raise.
            return
        nodes = list(self.nodes_manager.nodes_cache.values())
        super().close()
        for node in nodes:
            if node.redis_connection is not None:
                node.redis_connection.connection_pool.disconnect()


def require_utf8(client: Any) -> Any:
    """``client``, when it encodes commands as UTF-8.

    rivulet's scripts build JSON from the bytes they are sent, and every
    reader decodes them as UTF-8: a message sent as Latin-1 would be stored
    and then skipped by every reader as malformed.

    :raises ValueError: the client encodes otherwise.
    """
    get_encoder = getattr(client, "get_encoder", None)
    encoding = getattr(get_encoder() if callable(get_encoder) else None, "encoding", "utf-8")
    if not is_utf8(encoding):
        raise ValueError(f"rivulet needs a redis client that encodes as UTF-8, not {encoding!r} "
                         "(drop the encoding= option)")
    return client


def is_utf8(encoding: str) -> bool:
    """True for any spelling of UTF-8 (``utf8``, ``UTF_8``, ...)."""
    try:
        return codecs.lookup(encoding).name == "utf-8"
    except LookupError:
        return False


def _cluster(target: Target, redis_args: dict[str, Any]) -> Cluster:
    skip = ("host", "port", "db", "connection_class")  # the seeds; ours
    options = {k: v for k, v in target.options.items() if k not in skip}
    # As in redis-py's from_url, what the URL says wins over keyword arguments.
    args = {**redis_args, **options}
    if int(redis_py.__version__.split(".")[0]) < 6:
        # Before 6.0 the cluster's own retry count was this argument (it
        # warns as deprecated from 6.0, where ``retry`` says it).
        args["cluster_error_retry_attempts"] = 0
    nodes = [ClusterNode(host, port) for host, port in target.seeds]  # type: ignore[no-untyped-call]
    # Only with a url does RedisCluster build its node pools from our
    # connection_class; a bare host:port one, so the URL's TLS and
    # credentials options (in ``args``) are not parsed over ours. It appends
    # that host to the seeds, where it is already first.
    # RedisCluster asks its seeds for the slot map right here (redis-py 8
    # shuffles them first); one that refuses is skipped, so one down at
    # start-up is not fatal. One that accepts and never answers would cost
    # socket_timeout, outside any call's budget, and in a shuffled list could
    # take every seed's time: so each seed is asked alone, in the URL's order,
    # with the connect timeout as its budget (rivulet.deadline caps every
    # socket operation at it). The first that answers tells redis-py the whole
    # cluster, which it keeps as its seeds from then on.
    per_seed_s = float(args.get("socket_connect_timeout") or 2.0)
    error: Exception | None = None
    for node in nodes:
        first = f"redis://{_hostport(node.host, node.port)}"
        try:
            with within(time.monotonic() + per_seed_s):
                return Cluster(url=first, startup_nodes=[node], **args)
        except (RedisClusterException, redis_py.ConnectionError,
                redis_py.TimeoutError) as failed:
            error = failed
        except redis_py.RedisError as failed:
            raise translate(failed) from failed
    raise ConnectionError(
        f"cannot reach any seed node of {target.masked()}: {error}"
    ) from error


def mask_url(url: str) -> str:
    """The URL as redis-py reads it, any password replaced by ``***``; a URL
    redis-py cannot read prints as a placeholder, never in part."""
    try:
        return parse(url).masked()
    except ValueError:
        return "(unparseable Redis URL)"


def cluster_url_for(url: str, timeout_s: float = 1.0) -> str | None:
    """The ``redis+cluster://`` form of a plain ``redis://`` (or ``rediss://``)
    URL whose server is a Redis Cluster node, else None.

    The CLI and the dashboard call this so that an operator who pastes one
    node's address gets cluster mode rather than ``MOVED`` errors. One
    ``INFO cluster`` on a connection bounded by ``timeout_s``; a server that
    does not answer, or refuses INFO (an ACL), is taken as standalone, and the
    caller's own client then reports the failure under its retry budget.

    :raises ValueError: the URL is invalid (the message quotes none of it).
    """
    target = parse(url)
    if target.cluster or target.scheme not in CLUSTER_SCHEMES.values():
        return None
    probe = redis_py.Redis.from_url(
        url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
    )
    try:
        info = probe.info("cluster")
    except redis_py.RedisError:
        return None
    finally:
        probe.close()
        probe.connection_pool.disconnect()
    if not int(info.get("cluster_enabled", 0)):
        return None
    scheme, _, rest = url.partition("://")
    return f"{scheme.lower()}+cluster://{rest}"
