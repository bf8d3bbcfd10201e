"""Key names: exactly SPEC section 2's, with the channel in a hash tag."""

from __future__ import annotations

from rivulet import keys


def test_seed_keys() -> None:
    assert keys.id_key("c") == "rvl:id:{c}"
    assert keys.msg_key("c") == "rvl:msg:{c}"
    assert keys.channel_key("c") == "rvl:channel:{c}"
    assert keys.index_key("client") == "rvl:index:client"
    assert keys.lock_key("c") == "rvl:lock:{c}"


def test_channel_from_key_round_trips_odd_names() -> None:
    for name in ["a b", "x/y", "%", "日本"]:
        for key in keys.channel_keys(name):
            assert keys.channel_from_key(key) == name
    assert keys.channel_from_key("rvl:index:c") is None
    assert keys.channel_from_key("other") is None
