"""Every Redis key rivulet uses, one function per kind.

The keyspace (SPEC section 2; README.rst has the same table):

========================  ======  ==================================================
key                       type    holds
========================  ======  ==================================================
``rvl:id:{C}``            string  last message id issued in channel C (INCRBY)
``rvl:msg:{C}``           zset    packed JSON message -> message id
``rvl:channel:{C}``       zset    client id -> index (last id seen); the authority
``rvl:index:<client>``    zset    channel id -> index; a mirror of the authority
``rvl:lock:{C}``          --      reserved by the seed; never taken (scripts are atomic),
                                  deleted with the channel all the same
``rvl:meta:{C}``          hash    last_write_ts (ms), max_messages, max_age_ms, and
                                  w:<writer> -> "<token> <first id>" of its last write
``rvl:read:{C}``          zset    client id -> time of its last read (ms)
``rvl:hist:{C}``          list    lag snapshots, oldest first: ``"<ts ms> <head>"``
                                  then ``"<index>\t<client>"`` per subscriber, one
                                  line each; trimmed to keep / interval entries
``rvl:hcfg:{C}``          hash    history settings (interval_ms, keep_ms; 0 interval:
                                  off), last (ms of the last snapshot) and
                                  s:<client> -> subscribe time (ms)
``rvl:channels``          zset    channel registry, all scores 0 (lexicographic)
``rvl:clients``           zset    client registry, all scores 0 (lexicographic)
``rvl:wake:{C}``          pubsub  wake-up channel, published by every write
``rvl:bell:{C}``          stream  doorbell: one entry, added by every write; blocking
                                  readers wait on it with ``XREAD BLOCK``
========================  ======  ==================================================

``{C}`` is a Redis Cluster hash tag: every key of one channel hashes to one slot,
so one Lua script may touch them all.  The two registries are advisory supersets
kept beside the scripts (they live in other slots).
"""

from __future__ import annotations

import functools

PREFIX = "rvl:"
CHANNELS = "rvl:channels"
CLIENTS = "rvl:clients"
INDEX_PREFIX = "rvl:index:"

# Kinds whose keys carry the channel in a hash tag: `rvl:<kind>:{<channel>}`.
CHANNEL_KINDS = ("id", "msg", "channel", "meta", "read", "lock", "hist", "hcfg", "bell")


def _tagged(kind: str, channel: str) -> str:
    return f"rvl:{kind}:{{{channel}}}"


def id_key(channel: str) -> str:
    return _tagged("id", channel)


def msg_key(channel: str) -> str:
    return _tagged("msg", channel)


def channel_key(channel: str) -> str:
    return _tagged("channel", channel)


def lock_key(channel: str) -> str:
    return _tagged("lock", channel)


def meta_key(channel: str) -> str:
    return _tagged("meta", channel)


def read_key(channel: str) -> str:
    return _tagged("read", channel)


def history_key(channel: str) -> str:
    return _tagged("hist", channel)


def history_settings_key(channel: str) -> str:
    return _tagged("hcfg", channel)


def bell_key(channel: str) -> str:
    """The doorbell stream a write rings and a blocked reader waits on."""
    return _tagged("bell", channel)


def index_key(client_id: str) -> str:
    return f"{INDEX_PREFIX}{client_id}"


def wake_channel(channel: str) -> str:
    """The pub/sub channel a write publishes to, waking blocked readers."""
    return _tagged("wake", channel)


@functools.lru_cache(maxsize=4096)
def _channel_keys(channel: str) -> tuple[str, ...]:
    return tuple(_tagged(kind, channel) for kind in CHANNEL_KINDS)


def reader_keys(channel: str) -> list[str]:
    """The keys the read, commit and subscribers scripts declare (id, msg,
    channel, read, then the history keys: hist, hcfg)."""
    return [id_key(channel), msg_key(channel), channel_key(channel), read_key(channel),
            history_key(channel), history_settings_key(channel)]


def write_keys(channel: str) -> list[str]:
    """The keys the write script declares (id, msg, channel, meta, hist, hcfg,
    bell)."""
    return [id_key(channel), msg_key(channel), channel_key(channel), meta_key(channel),
            history_key(channel), history_settings_key(channel), bell_key(channel)]


def subscribe_keys(channel: str) -> list[str]:
    """The keys the subscribe script declares (id, msg, channel, hcfg)."""
    return [id_key(channel), msg_key(channel), channel_key(channel),
            history_settings_key(channel)]


def channel_keys(channel: str) -> list[str]:
    """All keys of one channel, in the order delete and unsubscribe declare
    them (id, msg, channel, meta, read, lock, hist, hcfg, bell)."""
    return list(_channel_keys(channel))


def channel_from_key(key: str) -> str | None:
    """The channel id inside a tagged key, or None if the key is not one of ours."""
    for kind in CHANNEL_KINDS:
        head = f"rvl:{kind}:{{"
        if key.startswith(head) and key.endswith("}"):
            return key[len(head):-1]
    return None
