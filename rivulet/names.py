"""Validation of channel and client ids (SPEC section 2)."""

from __future__ import annotations

import functools
import unicodedata

from .exceptions import InvalidNameError

MAX_NAME_LENGTH = 200


def validate_name(name: object, what: str = "channel id") -> str:
    """Return ``name`` if it may be used as a channel or client id.

    Braces would break the Cluster hash tag; ``.`` and ``..`` cannot travel as a
    URL path segment; control characters garble logs and terminals.
    """
    if not isinstance(name, str):
        raise InvalidNameError(f"{what} must be a str, not {type(name).__name__}", name)
    if not _known_good(name):
        _check(name, what)
    return name


@functools.lru_cache(maxsize=4096)
def _known_good(name: str) -> bool:
    # Writers name the same few channels over and over: check each once.
    try:
        _check(name, "name")
    except InvalidNameError:
        return False
    return True


def _check(name: str, what: str) -> None:
    if not 1 <= len(name) <= MAX_NAME_LENGTH:
        raise InvalidNameError(
            f"{what} must be 1 to {MAX_NAME_LENGTH} characters long, not {len(name)}", name
        )
    if name in (".", ".."):
        raise InvalidNameError(f"{what} may not be {name!r}", name)
    for ch in name:
        if ch in "{}":
            raise InvalidNameError(f"{what} may not contain {ch!r}: {name!r}", name)
        if unicodedata.category(ch) == "Cc":
            raise InvalidNameError(f"{what} may not contain control characters: {name!r}", name)
        if 0xD800 <= ord(ch) <= 0xDFFF:
            raise InvalidNameError(f"{what} is not valid Unicode text: {name!r}", name)


def validate_names(names: object, what: str = "channel id") -> list[str]:
    """Accept one name or an iterable of names; return them as a list."""
    if isinstance(names, str):
        return [validate_name(names, what)]
    if isinstance(names, (bytes, bytearray)) or not hasattr(names, "__iter__"):
        raise InvalidNameError(
            f"expected a {what} or an iterable of them, not {type(names).__name__}", names
        )
    result = [validate_name(n, what) for n in names]
    # Keep the caller's order, drop repeats.
    return list(dict.fromkeys(result))
