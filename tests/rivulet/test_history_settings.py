"""Admin.history_settings: the lag history settings in force for a channel,
read as the recorder (record_history in scripts/_lib.lua) reads them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis

import rivulet
from rivulet import keys
from rivulet.history import DEFAULT_INTERVAL_S, DEFAULT_KEEP_S, HistorySettings

MakeClient = Callable[..., rivulet.Client]


def test_a_new_channel_has_the_defaults(admin: rivulet.Admin, make_client: MakeClient) -> None:
    make_client("w", channel_ids="ch")
    assert admin.history_settings("ch") == HistorySettings(10.0, 3600.0, default=True)
    assert (DEFAULT_INTERVAL_S, DEFAULT_KEEP_S) == (10.0, 3600.0)


def test_what_set_history_set_is_read_back(admin: rivulet.Admin, make_client: MakeClient) -> None:
    make_client("w", channel_ids="ch")
    admin.set_history("ch", interval=2.5, keep=600)
    assert admin.history_settings("ch") == HistorySettings(2.5, 600.0, default=False)
    admin.set_history("ch", interval=None, keep=120)
    assert admin.history_settings("ch") == HistorySettings(None, 120.0, default=False)
    # Set to the defaults' values: in force the same, but the channel's own.
    admin.set_history("ch")
    assert admin.history_settings("ch") == HistorySettings(10.0, 3600.0, default=False)


def test_the_last_snapshot_time_is_no_setting(admin: rivulet.Admin,
                                              make_client: MakeClient) -> None:
    # Recording writes "last" into the same hash; that alone sets nothing.
    writer = make_client("w", channel_ids="ch")
    writer.write("ch", "a")
    assert admin.redis.hexists(keys.history_settings_key("ch"), "last")
    assert admin.history_settings("ch").default


def test_fields_written_around_the_library(backend: Any, admin: rivulet.Admin,
                                           make_client: MakeClient) -> None:
    make_client("w", channel_ids="ch")
    cfg = keys.history_settings_key("ch")
    # No number: the recorder's tonumber() gives nil, so its default applies.
    backend.hset(cfg, mapping={"interval_ms": "soon", "keep_ms": "60000"})
    assert admin.history_settings("ch") == HistorySettings(10.0, 60.0, default=False)
    # An interval of 0 or below stops the recorder.
    backend.hset(cfg, mapping={"interval_ms": "-5", "keep_ms": "forever"})
    assert admin.history_settings("ch") == HistorySettings(None, 3600.0, default=False)


def test_a_settings_key_of_the_wrong_type_is_a_clear_error(
        backend: Any, admin: rivulet.Admin, make_client: MakeClient) -> None:
    writer = make_client("w", channel_ids="ch")
    admin.set_history("ch", interval=0.001, keep=60)
    writer.write("ch", "a")
    assert admin.history("ch")
    backend.delete(keys.history_settings_key("ch"))
    backend.rpush(keys.history_settings_key("ch"), "junk")
    with pytest.raises(rivulet.BackendError, match="wrong type") as caught:
        admin.history_settings("ch")
    assert not isinstance(caught.value, redis.RedisError)
    # Read together, the snapshots still come back, the error in the settings' place.
    rows, found = admin.history_and_settings("ch")
    assert rows == admin.history("ch") and rows
    assert isinstance(found, rivulet.BackendError)


def test_unknown_channels_and_invalid_names_are_refused(admin: rivulet.Admin) -> None:
    with pytest.raises(rivulet.ChannelNotFoundError):
        admin.history_settings("nowhere")
    with pytest.raises(rivulet.ChannelNotFoundError):
        admin.history_and_settings("nowhere")
    for bad in ("a{b", "", "..", "x" * 201, "tab\there", 3):
        with pytest.raises(rivulet.InvalidNameError):
            admin.history_settings(bad)  # type: ignore[arg-type]
    assert not admin.redis.exists(keys.history_settings_key("nowhere"))


def test_history_and_settings_is_both_in_one_round_trip(real_redis: Any) -> None:
    sends = []

    class Counting(redis.Connection):
        def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            sends.append(command)
            super().send_packed_command(command, check_health)

    kwargs = real_redis.connection_pool.connection_kwargs
    pool = redis.ConnectionPool(connection_class=Counting, host=kwargs["host"],
                                port=kwargs["port"])
    admin = rivulet.Admin(redis.Redis(connection_pool=pool))
    writer = rivulet.Client(redis=real_redis, client_id="w", channel_ids="ch")
    admin.set_history("ch", interval=1, keep=60)
    writer.write("ch", "a")
    sends.clear()
    rows, found = admin.history_and_settings("ch")
    assert len(sends) == 1
    assert found == HistorySettings(1.0, 60.0, default=False)
    assert [(r.client_id, r.head_id) for r in rows] == [("w", 1)]
    sends.clear()
    admin.history_settings("ch")
    assert len(sends) == 1
    writer.close()
    pool.disconnect()
