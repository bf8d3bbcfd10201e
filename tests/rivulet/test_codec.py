"""The decode boundary: batches of members, malformed members, encoding checks."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from rivulet.codec import decode_for_display, decode_messages, encode_batch, ids_of

GOOD = [json.dumps({"id": i, "ts": 1, "src": "s", "data": f"d{i}"}) for i in (1, 2, 3)]


def ids(members: list[Any], first: int = 1) -> list[int]:
    """Consecutive ids for members, as the read script's runs give them."""
    return list(range(first, first + len(members)))


def test_runs_of_ids_expand_to_one_id_per_member() -> None:
    assert ids_of([5, 3, 7, 1, 7, 2]) == [5, 6, 7, 7, 7, 8]
    assert ids_of([b"1", b"2"]) == [1, 2]
    assert ids_of([]) == []


@pytest.mark.parametrize("as_bytes", [True, False])
def test_a_clean_batch_decodes_in_order(as_bytes: bool) -> None:
    members = [m.encode() for m in GOOD] if as_bytes else GOOD
    assert [m["data"] for m in decode_messages(members, ids(members), "ch")] == ["d1", "d2", "d3"]


@pytest.mark.parametrize("bad", ["not json", "[1, 2]", '{"id": 2}', '{"data": 5}', "1, 2", ""])
def test_a_malformed_member_is_skipped_and_the_rest_kept(
    bad: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="rivulet"):
        decoded = decode_messages([GOOD[0], bad, GOOD[2]], [1, 2, 3], "ch")
    assert [m["id"] for m in decoded] == [1, 3]
    assert "malformed" in caplog.text


def test_members_that_only_parse_when_joined_fall_back() -> None:
    # Two halves of one object: joined they parse as a single element.
    halves = ['{"id": 1, "data": "x", "k": [1', '2]}']
    assert decode_messages(halves, [1, 2], "ch") == []


@pytest.mark.parametrize("as_bytes", [True, False])
@pytest.mark.parametrize("planted", ['{"id": 90, "data": "x"}', '{"id": "2", "data": "x"}',
                                     '{"data": "x"}'])
def test_the_id_is_the_score_whatever_the_json_says(as_bytes: bool, planted: str) -> None:
    # Commit goes by message["id"]: a JSON id of 90 beside score 2 would skip 3..90.
    members = [GOOD[0], planted, GOOD[2]]
    stored = [m.encode() for m in members] if as_bytes else members
    assert [m["id"] for m in decode_messages(stored, [1, 2, 3], "ch")] == [1, 2, 3]


@pytest.mark.parametrize(("score", "shown"), [
    (float("inf"), 2**53 - 1), (float("-inf"), 0), (2.5, 2), (-3.0, 0), (1e300, 2**53 - 1),
    (b"inf", 2**53 - 1),
])
def test_display_survives_a_score_that_is_no_id(score: Any, shown: int) -> None:
    message = decode_for_display(GOOD[1], score)
    assert message["id"] == shown
    assert message["malformed"] is True
    assert message["data"] == GOOD[1]
    assert message["score"] in ("inf", "-inf", "2.5", "-3.0", "1e+300")


def test_display_keeps_malformed_members() -> None:
    assert decode_for_display(b"oops", 7.0) == {
        "id": 7, "ts": None, "src": None, "data": "oops", "malformed": True}
    assert decode_for_display(GOOD[1], 2)["data"] == "d2"


def test_encode_batch_checks_types_and_sizes() -> None:
    assert encode_batch("é", 2) == ['"é"']
    with pytest.raises(TypeError):
        encode_batch(None, 10)


@pytest.mark.parametrize("not_a_sequence", [{"a": 1}, {"a"}, frozenset("a"), {"a": "b"}.keys(),
                                            iter(["a"])])
def test_encode_batch_refuses_mappings_sets_and_iterators(not_a_sequence: Any) -> None:
    # A dict would be written as its keys; a set in an order nobody chose.
    with pytest.raises(TypeError, match="sequence of str"):
        encode_batch(not_a_sequence, 10)
    with pytest.raises(ValueError, match="message 1"):
        encode_batch(["a", "b" * 11], 10)


@pytest.mark.parametrize("ts", ['"abc"', "99999999999999999999", "-1", "1.5", "null"])
def test_display_flags_a_stamp_that_is_no_time(ts: str) -> None:
    member = '{"id": 1, "ts": ' + ts + ', "src": "s", "data": "d"}'
    assert decode_for_display(member, 1)["malformed"] is True
