"""Channel and client id rules (SPEC section 2)."""

from __future__ import annotations

import pytest

from rivulet.exceptions import InvalidNameError
from rivulet.names import validate_name, validate_names


@pytest.mark.parametrize("name", ["a", "x" * 200, "a b/c%d:e#f", "<script>", "日本", "...", "-"])
def test_valid(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize("name", ["", "x" * 201, "{", "}", ".", "..", "\x1b[31m", "\u0085",
                                  "\ud800", b"bytes", 1, None])
def test_invalid(name: object) -> None:
    with pytest.raises(InvalidNameError) as info:
        validate_name(name, "client id")
    assert "client id" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_many_names_keep_order_and_drop_repeats() -> None:
    assert validate_names(["b", "a", "b"]) == ["b", "a"]
    assert validate_names("one") == ["one"]
    assert validate_names(n for n in ["x"]) == ["x"]
    with pytest.raises(InvalidNameError):
        validate_names(b"ab")
    with pytest.raises(InvalidNameError):
        validate_names(3)
