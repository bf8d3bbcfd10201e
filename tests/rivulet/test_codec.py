"""The decode boundary: batches of members, malformed members, encoding checks."""

from __future__ import annotations

import json
import logging

import pytest

from rivulet.codec import decode_for_display, decode_messages, encode_batch

GOOD = [json.dumps({"id": i, "ts": 1, "src": "s", "data": f"d{i}"}) for i in (1, 2, 3)]


@pytest.mark.parametrize("as_bytes", [True, False])
def test_a_clean_batch_decodes_in_order(as_bytes: bool) -> None:
    members = [m.encode() for m in GOOD] if as_bytes else GOOD
    assert [m["data"] for m in decode_messages(members, "ch")] == ["d1", "d2", "d3"]


@pytest.mark.parametrize("bad", ["not json", "[1, 2]", '{"id": 2}', '{"id": "2", "data": "x"}',
                                 "1, 2", ""])
def test_a_malformed_member_is_skipped_and_the_rest_kept(
    bad: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="rivulet"):
        decoded = decode_messages([GOOD[0], bad, GOOD[2]], "ch")
    assert [m["id"] for m in decoded] == [1, 3]
    assert "malformed" in caplog.text


def test_members_that_only_parse_when_joined_fall_back() -> None:
    # Two halves of one object: joined they parse as a single element.
    halves = ['{"id": 1, "data": "x", "k": [1', '2]}']
    assert decode_messages(halves, "ch") == []


def test_display_keeps_malformed_members() -> None:
    assert decode_for_display(b"oops", 7.0) == {
        "id": 7, "ts": None, "src": None, "data": "oops", "malformed": True}
    assert decode_for_display(GOOD[1], 2)["data"] == "d2"


def test_encode_batch_checks_types_and_sizes() -> None:
    assert encode_batch("é", 2) == ['"é"']
    with pytest.raises(TypeError):
        encode_batch(None, 10)
    with pytest.raises(ValueError, match="message 1"):
        encode_batch(["a", "b" * 11], 10)


@pytest.mark.parametrize("ts", ['"abc"', "99999999999999999999", "-1", "1.5", "null"])
def test_display_flags_a_stamp_that_is_no_time(ts: str) -> None:
    member = '{"id": 1, "ts": ' + ts + ', "src": "s", "data": "d"}'
    assert decode_for_display(member, 1)["malformed"] is True
