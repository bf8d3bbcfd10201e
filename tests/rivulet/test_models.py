"""The rows of the management API: status rules and Jupyter tables."""

from __future__ import annotations

import dataclasses
import html
import re

from rivulet import ChannelInfo, ClientInfo, Rows, SubscriberInfo


def subscriber(lag: int = 0, last_read_ts: int | None = None, beyond_head: bool = False,
               pending: int | None = None) -> SubscriberInfo:
    return SubscriberInfo(
        channel="ch", client_id="c", index=10 - lag, lag=lag,
        pending=lag if pending is None else pending, lag_seconds=0.0,
        last_read_ts=last_read_ts, beyond_head=beyond_head,
    )


def channel(name: str = "ch", **changes: object) -> ChannelInfo:
    row = ChannelInfo(name, 3, 2, 2, 3, 1_000, 2_000, 1, 1, 0.5, 2_000)
    return dataclasses.replace(row, **changes)


# -- SubscriberInfo.status is a field (its rules: test_status.py) -------------


def test_status_is_a_field_with_a_json_key() -> None:
    row = dataclasses.replace(subscriber(lag=1), status="stalled", read_rate=0.0)
    assert row.status == "stalled"
    assert row.to_dict()["status"] == "stalled"
    assert (row.to_dict()["read_rate"], row.to_dict()["eta_s"]) == (0.0, None)


def test_pruned_unread_is_lag_minus_pending() -> None:
    assert subscriber(lag=7, pending=5).pruned_unread == 2
    assert subscriber(lag=0, pending=0).pruned_unread == 0


# -- rows as data ---------------------------------------------------------------------


def test_rows_are_plain_dataclasses() -> None:
    for row in (channel(), subscriber(lag=1), ClientInfo("c", {"ch": 1}, {"ch": 2})):
        assert dataclasses.is_dataclass(row)
        assert row.to_dict() == dataclasses.asdict(row)
    assert channel().to_dict()["error"] is None


def test_client_info_max_lag() -> None:
    assert ClientInfo("c", {"a": 1, "b": 2}, {"a": 4, "b": 9}).max_lag == 9
    assert ClientInfo("c", {}).max_lag == 0


def test_rows_is_a_list() -> None:
    rows = Rows([channel("a"), channel("b")])
    assert isinstance(rows, list)
    assert rows == [channel("a"), channel("b")]
    assert Rows() == []


# -- _repr_html_ ----------------------------------------------------------------------


def cells(markup: str, tag: str) -> list[str]:
    return re.findall(rf"<{tag}>(.*?)</{tag}>", markup, flags=re.S)


def test_rows_render_as_a_table() -> None:
    rows = Rows([channel("alpha"), channel("beta", head_id=9)])
    markup = rows._repr_html_()
    assert markup.startswith("<table") and markup.endswith("</table>")
    headers = cells(markup, "th")
    assert headers == [f.name for f in dataclasses.fields(ChannelInfo)]
    body = re.findall(r"<tr>(.*?)</tr>", markup.split("<tbody>", 1)[1], flags=re.S)
    assert len(body) == 2
    first = cells(body[0], "td")
    assert first[headers.index("name")] == "alpha"
    assert cells(body[1], "td")[headers.index("head_id")] == "9"


def test_html_escapes_names_and_values() -> None:
    evil = "<script>alert('x')</script> & \"q\""
    markup = Rows([channel(evil, error="<b>bad</b>")])._repr_html_()
    assert "<script>" not in markup
    assert "<b>" not in markup
    assert html.escape(evil) in markup
    assert html.escape("<b>bad</b>") in markup


def test_subscriber_and_client_rows_render_and_escape() -> None:
    sub = dataclasses.replace(subscriber(lag=2), client_id="<script>x</script>")
    markup = Rows([sub])._repr_html_()
    assert "<script>" not in markup and "&lt;script&gt;x&lt;/script&gt;" in markup
    assert cells(markup, "th") == [f.name for f in dataclasses.fields(SubscriberInfo)]
    client = ClientInfo("<i>c</i>", {"<script>": 1})
    markup = Rows([client])._repr_html_()
    assert "<script>" not in markup and "<i>" not in markup
    assert cells(markup, "th") == [f.name for f in dataclasses.fields(ClientInfo)]


def test_single_row_renders_too() -> None:
    row = channel("<script>")
    assert row._repr_html_() == Rows([row])._repr_html_()
    assert "<script>" not in row._repr_html_()


def test_empty_rows_render_without_a_table() -> None:
    markup = Rows()._repr_html_()
    assert "<table" not in markup
    assert "no rows" in markup
