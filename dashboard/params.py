"""Reading numbers and filters from query strings and forms, with clear 400s."""

from __future__ import annotations

from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest

#: Characters fnmatch treats specially; each is put in a one-character class.
GLOB_SPECIAL = frozenset("*?[")
#: How much of a value an error message quotes. Flashes travel in the session
#: cookie: a whole 5,000-character field would push it past the browser's 4 KB
#: limit, and the browser drops such a cookie (and the error with it) silently.
QUOTE_CHARS = 40


def quoted(value: str, limit: int = QUOTE_CHARS) -> str:
    """``value`` in quotes as ``repr`` writes it, cut to ``limit`` characters plus "…"."""
    if len(value) <= limit:
        return repr(value)
    return repr(value[:limit]) + "…"


class FormError(ValueError):
    """A form field holds something the action cannot use; the message says what."""


def int_arg(
    args: MultiDict[str, str], name: str, default: int | None = None, minimum: int = 0
) -> int | None:
    """An optional integer query argument; 400 if it is not one."""
    raw = args.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, not {quoted(raw)}") from None
    if value < minimum:
        raise BadRequest(f"{name} must be at least {minimum}, not {value}")
    return value


def int_field(form: MultiDict[str, str], name: str, label: str | None = None) -> int | None:
    """An optional whole number >= 0 from a form; :class:`FormError` if it is not one.

    ``label`` is the field's label on the page: errors speak the form's words
    (“Keep only the newest”), not the field's internal name.
    """
    label = name if label is None else f"“{label}”"
    raw = form.get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise FormError(f"{label} must be a whole number, not {quoted(raw)}") from None
    if value < 0:
        raise FormError(f"{label} must be 0 or more, not {value}")
    return value


def seconds_field(form: MultiDict[str, str], name: str, label: str | None = None) -> float | None:
    """An optional number of seconds >= 0 from a form (``label`` as for int_field)."""
    label = name if label is None else f"“{label}”"
    raw = form.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise FormError(f"{label} must be a number of seconds, not {quoted(raw)}") from None
    if not value >= 0 or value == float("inf"):
        raise FormError(f"{label} must be a finite number of seconds >= 0, not {quoted(raw)}")
    return value


def substring_glob(query: str) -> str:
    """A glob matching names that contain ``query``, ignoring case.

    Letters become ``[xX]`` classes and glob characters literal ``[*]`` ones, so
    ``100%`` or ``a*b`` filter for exactly that text.
    """
    parts = []
    for ch in query:
        lower, upper = ch.lower(), ch.upper()
        if lower != upper and len(lower) == 1 and len(upper) == 1:
            parts.append(f"[{lower}{upper}]")
        elif ch in GLOB_SPECIAL:
            parts.append(f"[{ch}]")
        else:
            parts.append(ch)
    return "*" + "".join(parts) + "*"
