"""Where long names may break: after their own separators, never mid-word.

Channel and client ids are often paths (``orders/eu-west/2024``) with no
spaces; browsers would otherwise overflow the column or, with ``break-all``,
cut ``orders`` into ``ord`` / ``ers``. A ``<wbr>`` after each separator gives
the line its natural break points; CSS ``overflow-wrap: anywhere`` remains for
a single run too long for the column.
"""

from __future__ import annotations

import re

from flask import Flask
from markupsafe import Markup, escape

_AFTER = re.compile(r"([/.:_\-@|,;=&]+)")
WBR = Markup("<wbr>")


def breakable(name: str) -> Markup:
    """``name`` escaped, with a ``<wbr>`` after every run of separators."""
    # Split first, escape each piece: "&" and ";" must not break an entity.
    pieces = _AFTER.split(str(name))
    return Markup("").join(
        escape(p) + WBR if i % 2 else escape(p) for i, p in enumerate(pieces))


def init_app(app: Flask) -> None:
    app.jinja_env.filters["breakable"] = breakable
