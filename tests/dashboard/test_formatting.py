"""Jinja filters and the embedded server's failure modes."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.embedded import EmbeddedRedis, EmbeddedRedisError
from dashboard.formatting import ago, count, duration, iso_time, pretty, preview


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "—"),
        (0, "0 s"),
        (-3, "0 s"),
        (1.25, "1.2 s"),
        (42, "42 s"),
        (62, "1 min 2 s"),
        (3 * 3600 + 125, "3 h 2 min"),
        (2 * 86400 + 7200, "2 d 2 h"),
    ],
)
def test_duration(seconds: float | None, text: str) -> None:
    assert duration(seconds) == text


def test_times_and_counts() -> None:
    assert ago(None) == "never"
    assert ago(10_000, at_ms=10_200) == "just now"
    assert ago(10_000, at_ms=75_000) == "1 min 5 s ago"
    assert iso_time(0) == "1970-01-01 00:00:00Z" and iso_time(None) == "—"
    assert count(1234567) == "1,234,567" and count(None) == "—"


def test_pretty_prints_json_objects_and_arrays_only() -> None:
    assert pretty('{"b":1,"a":[1,2]}') == '{\n  "b": 1,\n  "a": [\n    1,\n    2\n  ]\n}'
    assert pretty('  ["é"]') == '[\n  "é"\n]'
    assert pretty("42") == "42"
    assert pretty("{not json") == "{not json"
    assert preview("abc", limit=5) == "abc"
    assert preview("abcdefgh", limit=5) == "abcde\n… (3 more characters)"


def test_embedded_server_that_cannot_start_says_why(tmp_path: Path) -> None:
    fake = tmp_path / "redis-server"
    fake.write_text("#!/bin/sh\necho 'Fatal: no such thing' ; exit 3\n")
    fake.chmod(0o755)
    server = EmbeddedRedis(tmp_path / "data", executable=str(fake))
    with pytest.raises(EmbeddedRedisError, match="exited with status 3: Fatal: no such thing"):
        server.start()
    assert not server.running
    # The failed start released the folder.
    with pytest.raises(EmbeddedRedisError, match="exited"):
        EmbeddedRedis(tmp_path / "data", executable=str(fake)).start()
