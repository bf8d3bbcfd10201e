"""The rows of the management API: status rules and Jupyter tables."""

from __future__ import annotations

import dataclasses
import html
import re
import subprocess
import sys

import pytest

from rivulet import Admin, ChannelInfo, ClientInfo, Rows, SubscriberInfo, formatting


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
    return re.findall(rf"<{tag}(?: [^>]*)?>(.*?)</{tag}>", markup, flags=re.S)


def headings(cls: type) -> list[str]:
    """The field names as headings, ``status`` moved up to follow the names."""
    names = [f.name.replace("_", " ") for f in dataclasses.fields(cls)]
    if "status" in names:
        names.remove("status")
        names.insert(1 if names[0] == "name" else 2, "status")
    return names


def test_rows_render_as_a_table() -> None:
    rows = Rows([channel("alpha"), channel("beta", head_id=9)])
    markup = rows._repr_html_()
    assert "<table" in markup and markup.endswith("</table></div>")
    headers = cells(markup, "th")
    assert headers == headings(ChannelInfo)
    assert headers[:2] == ["name", "status"]
    body = re.findall(r"<tr>(.*?)</tr>", markup.split("<tbody>", 1)[1], flags=re.S)
    assert len(body) == 2
    first = cells(body[0], "td")
    assert first[headers.index("name")] == "alpha"
    assert cells(body[1], "td")[headers.index("head id")] == "9"


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
    # Status comes early, right after the channel and the client.
    assert cells(markup, "th")[:3] == ["channel", "client id", "status"]
    assert cells(markup, "th") == headings(SubscriberInfo)
    client = ClientInfo("<i>c</i>", {"<script>": 1})
    markup = Rows([client])._repr_html_()
    assert "<script>" not in markup and "<i>" not in markup
    assert cells(markup, "th") == headings(ClientInfo)


def test_single_row_renders_too() -> None:
    row = channel("<script>")
    assert row._repr_html_() == Rows([row])._repr_html_()
    assert "<script>" not in row._repr_html_()


def test_empty_rows_render_without_a_table() -> None:
    markup = Rows()._repr_html_()
    assert "<table" not in markup
    assert "no rows" in markup


# -- issue 12: rows as people read them in a notebook ---------------------------------

EPOCH_MS = re.compile(r"\b1\d{12}\b")  # a raw millisecond timestamp (2001 to 2286)


def row_cells(markup: str) -> dict[str, str]:
    """The first row's cells (with their style) by heading."""
    heads = cells(markup, "th")
    body = markup.split("<tbody>", 1)[1]
    tds = re.findall(r'<td style="([^"]*)">(.*?)</td>', body, flags=re.S)
    return {h: f"{style}|{text}" for h, (style, text) in zip(heads, tds)}


def test_times_durations_and_status_read_as_the_dashboard_writes_them() -> None:
    ts = 1_796_106_203_249
    sub = SubscriberInfo(channel="orders", client_id="slow", index=1, lag=1_234, pending=3,
                         lag_seconds=299.5, last_read_ts=ts - 61_000, beyond_head=False,
                         status="stalled", read_rate=0.0)
    markup = Rows([sub])._repr_html_()
    assert not EPOCH_MS.search(markup)
    row = row_cells(markup)
    expected = formatting.local_time(ts - 61_000)
    assert row["last read ts"].endswith("|" + expected) and re.match(r"\d{4}-\d\d-\d\d ", expected)
    assert row["lag seconds"].endswith("|4 min 59 s")
    assert row["lag"].endswith("|1,234") and "text-align:right" in row["lag"]
    assert "text-align:left" in row["channel"] and "white-space:nowrap" in row["channel"]
    # Status is a word, coloured by the palette (never colour alone).
    assert row["status"].endswith("|stalled") and "color:#b42318" in row["status"]
    assert row["read rate"].endswith("|0/s") and row["eta s"].endswith("|—")


def test_rates_read_per_second_and_eta_as_a_duration() -> None:
    sub = dataclasses.replace(subscriber(lag=900), status="catching up", read_rate=12.5,
                              eta_s=72.0)
    row = row_cells(Rows([sub])._repr_html_())
    assert row["read rate"].endswith("|12/s") and "text-align:right" in row["read rate"]
    assert row["eta s"].endswith("|1 min 12 s")
    assert row["status"].endswith("|catching up") and "color:#067647" in row["status"]
    for rate, text in ((0.25, "0.25/s"), (3.5, "3.5/s"), (1_204.0, "1,204/s"), (None, "—")):
        shown = row_cells(Rows([channel(write_rate=rate)])._repr_html_())["write rate"]
        assert shown.endswith("|" + text)


def test_channel_rows_show_caps_as_durations_and_missing_values_as_dashes() -> None:
    row = row_cells(Rows([channel(max_age=7200.0, oldest_ts=None)])._repr_html_())
    assert row["max age"].endswith("|2 h 0 min")
    assert row["oldest ts"].endswith("|—")
    assert row["max messages"].endswith("|—")


def test_message_rows_are_dicts_with_human_times() -> None:
    ts = 1_796_106_203_249
    markup = Rows([{"id": 7, "ts": ts, "src": "cli", "data": "<hi>"}])._repr_html_()
    assert cells(markup, "th") == ["id", "ts", "src", "data"]
    assert formatting.local_time(ts) in markup and not EPOCH_MS.search(markup)
    assert "&lt;hi&gt;" in markup


def test_client_rows_show_channels_readably() -> None:
    markup = Rows([ClientInfo("c", {"orders": 4, "logs": 1}, {"orders": 0})])._repr_html_()
    assert "orders: 4, logs: 1" in markup and "{" not in markup


def test_to_pandas_has_typed_columns_and_status() -> None:
    pd = pytest.importorskip("pandas")
    sub = dataclasses.replace(subscriber(lag=2, last_read_ts=1_796_106_203_249),
                              status="behind")
    frame = Rows([sub, subscriber()]).to_pandas()
    assert list(frame.columns)[:3] == ["channel", "client_id", "status"]
    assert list(frame["status"]) == ["behind", "caught up"]
    assert frame["last_read_ts"][0] == pd.Timestamp(1_796_106_203_249, unit="ms", tz="UTC")
    assert frame["lag_seconds"][0] == pd.Timedelta(0)
    assert len(Rows().to_pandas()) == 0


def test_to_pandas_without_pandas_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now raises ImportError
    with pytest.raises(ImportError, match="pip install pandas"):
        Rows([subscriber()]).to_pandas()


def test_models_do_not_import_pandas() -> None:
    code = "import sys, rivulet; rivulet.Rows([1])._repr_html_(); print('pandas' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"


def test_admin_repr_names_the_url_without_the_password() -> None:
    admin = Admin("redis://user:s3cret@127.0.0.1:6390/2")  # connects lazily: nothing listens
    try:
        assert repr(admin) == "<rivulet.Admin redis://user:***@127.0.0.1:6390/2>"
    finally:
        admin.close()
    plain = Admin("redis://127.0.0.1:6391/0")
    try:
        assert repr(plain) == "<rivulet.Admin redis://127.0.0.1:6391/0>"
    finally:
        plain.close()


def test_message_listings_are_rows(admin: Admin) -> None:
    admin.post("notes", "hello", create=True)
    listed = admin.messages("notes")
    assert isinstance(listed, Rows) and listed[0]["data"] == "hello"
    assert "hello" in listed._repr_html_()
