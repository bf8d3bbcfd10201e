"""How rows look in Jupyter (an HTML table) and in pandas (a DataFrame).

Generic over the rows' fields, so fields added later render well without
touching this module: the name says what a value is (``*_ts`` a time in epoch
milliseconds, ``*_seconds``/``*_s``/``max_age`` a duration, ``*_rate`` a rate
per second, ``status`` a word in the palette), the type says how to align it
(numbers right, text left).
Rows may be dataclasses or dicts (message listings).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import importlib
from collections.abc import Sequence
from typing import Any

from .formatting import NONE, count, duration, local_time, per_second, tone

#: Inline colours for the palette's tones (a notebook has no stylesheet of ours).
TONE_COLOURS = {"red": "#b42318", "amber": "#b54708", "green": "#067647"}

#: Each cell: no wrapping inside names and times, tight padding so a channel
#: listing fits a notebook's width.
_CELL = "padding:2px 8px;white-space:nowrap;vertical-align:top;"
_HEAD = "padding:2px 8px;text-align:left;vertical-align:bottom;font-weight:600;"


def is_time(name: str) -> bool:
    return name == "ts" or name.endswith("_ts")


def is_duration(name: str) -> bool:
    return name.endswith(("_seconds", "_s")) or name == "max_age"


def is_rate(name: str) -> bool:
    return name.endswith("_rate")


#: The fields that say which row this is; ``status`` comes right after them,
#: since it is what a reader scans a listing for.
_IDENTITY = ("name", "channel", "client_id")


def columns(rows: Sequence[Any]) -> list[str]:
    """Field names in order, with ``status`` moved up to follow the
    identifying fields."""
    first = rows[0]
    if dataclasses.is_dataclass(first):
        names = [f.name for f in dataclasses.fields(first)]
    else:
        names = []
        for row in rows:
            names.extend(key for key in row if key not in names)
    if "status" in names:
        names.remove("status")
        lead = 0
        while lead < len(names) and names[lead] in _IDENTITY:
            lead += 1
        names.insert(lead, "status")
    return names


def value(row: Any, name: str) -> Any:
    return row.get(name) if isinstance(row, dict) else getattr(row, name)


def _is_number(item: Any) -> bool:
    return isinstance(item, (int, float)) and not isinstance(item, bool)


def cell_text(name: str, item: Any) -> str:
    """One value as people read it (plain text, not yet escaped)."""
    if item is None:
        return NONE
    if is_time(name) and _is_number(item):
        return local_time(int(item))
    if is_duration(name) and _is_number(item):
        return duration(float(item))
    if is_rate(name) and _is_number(item):
        return per_second(float(item))
    if isinstance(item, bool):
        return "yes" if item else "no"
    if isinstance(item, int):
        return count(item)
    if isinstance(item, float):
        return f"{item:,.2f}"
    if isinstance(item, dict):
        return ", ".join(f"{key}: {cell_text('', sub)}" for key, sub in item.items()) or NONE
    return str(item)


def _cell_html(name: str, item: Any) -> str:
    text = html.escape(cell_text(name, item))
    align = "right" if _is_number(item) and not is_time(name) else "left"
    style = f"{_CELL}text-align:{align};"
    if is_time(name) and item is not None:
        # Date above time: a listing with four time columns still fits a notebook.
        style = style.replace("white-space:nowrap;", "white-space:normal;min-width:6.5em;")
    if name == "data":
        # Message bodies can be long: let them wrap rather than widen the table.
        style = style.replace("white-space:nowrap;", "white-space:pre-wrap;max-width:40em;")
    if name == "status" and item:
        colour = TONE_COLOURS.get(tone(str(item)))
        if colour:
            style += f"color:{colour};font-weight:600;"
    return f'<td style="{style}">{text}</td>'


def rows_html(rows: Sequence[Any]) -> str:
    """The rows as an HTML table for Jupyter's ``_repr_html_``."""
    if not rows:
        return "<p><em>no rows</em></p>"
    first = rows[0]
    if not (dataclasses.is_dataclass(first) or isinstance(first, dict)):
        return f"<pre>{html.escape(repr(list(rows)))}</pre>"
    names = columns(rows)
    head = "".join(f'<th style="{_HEAD}">{html.escape(n.replace("_", " "))}</th>'
                   for n in names)
    body = "".join(
        "<tr>" + "".join(_cell_html(n, value(row, n)) for n in names) + "</tr>"
        for row in rows
    )
    return ('<div style="overflow-x:auto;max-width:100%">'
            '<table class="rivulet-rows" style="border-collapse:collapse;font-size:12px">'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")


def to_pandas(rows: Sequence[Any]) -> Any:
    """The rows as a ``pandas.DataFrame``: times as local datetimes, durations
    as timedeltas, status as a column.

    :raises ImportError: pandas is not installed (the message says how to get it).
    """
    try:
        pd = importlib.import_module("pandas")  # untyped; imported only when asked
    except ImportError as error:
        raise ImportError(
            "to_pandas() needs pandas, which rivulet does not install: pip install pandas"
        ) from error
    names = columns(rows) if rows else []
    frame = pd.DataFrame([{n: value(row, n) for n in names} for row in rows],
                         columns=names)
    for name in names:
        if is_time(name):
            stamps = pd.to_datetime(frame[name], unit="ms", utc=True)
            frame[name] = stamps.dt.tz_convert(_local_zone())
        elif is_duration(name):
            frame[name] = pd.to_timedelta(frame[name], unit="s")
    return frame


def _local_zone() -> Any:
    """This machine's time zone, as pandas takes it."""
    return dt.datetime.now().astimezone().tzinfo


def describe_redis(client: Any) -> str:
    """The server a redis-py (or fakeredis, or cluster) client talks to, as a
    URL with any password shown as ``***``: what ``Admin``'s repr names."""
    nodes = getattr(client, "get_nodes", None)
    if callable(nodes) and not hasattr(client, "connection_pool"):
        seeds = ",".join(f"{n.host}:{n.port}" for n in nodes()[:3])
        kwargs = getattr(getattr(client, "nodes_manager", None), "connection_kwargs", {}) or {}
        auth = "***@" if kwargs.get("password") else ""
        return f"redis+cluster://{auth}{seeds}"
    pool = getattr(client, "connection_pool", None)
    kwargs = dict(getattr(pool, "connection_kwargs", {}) or {})
    if "path" in kwargs:
        return f"unix://{kwargs['path']}?db={kwargs.get('db', 0)}"
    user = kwargs.get("username") or ""
    auth = f"{user}:***@" if kwargs.get("password") else f"{user}@" if user else ""
    connection_class = getattr(pool, "connection_class", None)
    scheme = "rediss" if "SSL" in getattr(connection_class, "__name__", "") else "redis"
    host = kwargs.get("host", "localhost")
    host = f"[{host}]" if ":" in str(host) else host
    return f"{scheme}://{auth}{host}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"
