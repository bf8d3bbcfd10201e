"""What the management API's tests share: the data model of SPEC section 2
spelled out (key names, foreign data written around the library), the awkward
names they try, and small builders."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import rivulet
from rivulet import (
    ChannelInfo,
)

MakeClient = Callable[..., rivulet.Client]

# Valid names (SPEC section 2) that are awkward for globs, URLs, HTML and Redis.
ODD_NAMES = [
    "with space",
    "a/b/c",
    "/leading slash",
    "100%",
    "ns:sub:x",
    "#hash",
    "<script>alert(1)</script>",
    "naïve ☃ 日本語",
    "émoji 🎉",
    "star*name",
    "what?",
    "[brackets]",
    "back\\slash",
    "-",
    "+",
    "a]b",
]


# -- the documented data model (SPEC section 2) -------------------------------


def id_key(channel: str) -> str:
    return f"rvl:id:{{{channel}}}"


def msg_key(channel: str) -> str:
    return f"rvl:msg:{{{channel}}}"


def sub_key(channel: str) -> str:
    return f"rvl:channel:{{{channel}}}"


def index_key(client: str) -> str:
    return f"rvl:index:{client}"


def text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def server_ms(r: Any) -> int:
    """Redis' own clock in ms, as the scripts compute it."""
    reply = r.time()
    if isinstance(reply, dict):  # some cluster clients answer per node
        reply = next(iter(reply.values()))
    seconds, micros = reply
    return int(seconds) * 1000 + int(micros) // 1000


def channel_keys_in_redis(r: Any, channel: str) -> set[str]:
    """Every key carrying the channel's hash tag (a SCAN: test code only)."""
    tag = f"{{{channel}}}"
    return {k for k in (text(k) for k in r.scan_iter(count=1000)) if tag in k}


def all_keys(r: Any) -> set[str]:
    return {text(k) for k in r.scan_iter(count=1000)}


def foreign_message(r: Any, channel: str, message_id: int, ts: int, data: str,
                    src: str = "foreign", *, raise_head: bool = True) -> None:
    """Store one message the way another client following SPEC section 2 would."""
    member = json.dumps({"id": message_id, "ts": ts, "src": src, "data": data})
    r.zadd(msg_key(channel), {member: message_id})
    if raise_head:
        head = int(r.get(id_key(channel)) or 0)
        if message_id > head:
            r.set(id_key(channel), message_id)


def foreign_index(r: Any, channel: str, client: str, index: int) -> None:
    """Place a subscriber's index in the authority and its mirror, as SPEC section 2 says."""
    r.zadd(sub_key(channel), {client: index})
    r.zadd(index_key(client), {channel: index})


def glob_escape(name: str) -> str:
    """A glob matching exactly ``name`` (``[x]`` escapes work in every glob dialect)."""
    return "".join(f"[{ch}]" if ch in "*?[" else ch for ch in name)


def names(rows: list[ChannelInfo]) -> list[str]:
    return [row.name for row in rows]


def by_client(rows: list[Any]) -> dict[str, Any]:
    return {row.client_id: row for row in rows}


def snapshot(r: Any) -> dict[str, Any]:
    """Every key with its type and value, to prove that a call wrote nothing."""
    state: dict[str, Any] = {}
    for key in all_keys(r):
        kind = text(r.type(key))
        if kind == "string":
            value: Any = r.get(key)
        elif kind == "zset":
            value = r.zrange(key, 0, -1, withscores=True)
        elif kind == "hash":
            value = sorted(r.hgetall(key).items())
        elif kind == "list":
            value = r.lrange(key, 0, -1)
        elif kind == "set":
            value = sorted(r.smembers(key))
        else:
            value = None
        state[key] = (kind, value)
    return state


def channel_with(make_client: MakeClient, channel: str, messages: int,
                 client_id: str = "writer") -> rivulet.Client:
    """A channel whose only subscriber wrote ``messages`` messages and read none."""
    writer = make_client(client_id)
    writer.subscribe(channel)
    if messages:
        writer.write(channel, [f"m{i}" for i in range(1, messages + 1)])
    return writer


