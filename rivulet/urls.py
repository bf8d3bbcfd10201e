"""Redis URLs: where to connect by default, how to connect, how to print one."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import redis as redis_py
from redis.backoff import NoBackoff
from redis.retry import Retry

DEFAULT_URL = "redis://localhost:6379/0"


def redis_url_from_env() -> str:
    """``RIVULET_REDIS_URL``, then ``REDIS_URL``, then the local default."""
    return os.environ.get("RIVULET_REDIS_URL") or os.environ.get("REDIS_URL") or DEFAULT_URL


def redis_from_url(url: str | None = None, **redis_args: Any) -> redis_py.Redis:
    """A redis-py client with redis-py's own retries off: rivulet retries itself."""
    redis_args.setdefault("socket_connect_timeout", 2.0)
    redis_args.setdefault("socket_timeout", 10.0)
    redis_args["retry"] = Retry(NoBackoff(), 0)
    try:
        return redis_py.Redis.from_url(url or redis_url_from_env(), **redis_args)
    except ValueError as error:
        raise ValueError(f"invalid Redis URL {mask_url(url or '')!r}: {error}") from None


def mask_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (in the netloc and the query)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(unparseable Redis URL)"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            user = userinfo.split(":", 1)[0]
            userinfo = f"{user}:***"
        else:
            # Some clients read a lone userinfo as the password: hide it too.
            userinfo = "***"
        netloc = f"{userinfo}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        masked = [(k, "***" if k.lower() == "password" else v) for k, v in pairs]
        query = urlencode(masked, safe="*/")
    # Replace only the parts that changed: urlunsplit would turn unix:/// into unix:/.
    if netloc != parts.netloc:
        url = url.replace(f"//{parts.netloc}", f"//{netloc}", 1)
    if query != parts.query:
        url = url.replace(f"?{parts.query}", f"?{query}", 1)
    return url
