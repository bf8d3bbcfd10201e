"""The README's quickstart runs as written (against a throwaway server)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parent.parent / "README.rst"


def python_blocks() -> list[str]:
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", text)
    return [re.sub(r"^    ", "", b, flags=re.MULTILINE) for b in blocks]


def test_quickstart_runs(redis_server: Any, real_redis: Any, capsys: Any) -> None:
    quickstart = python_blocks()[0]
    assert "for channel, messages in inbox.items():" in quickstart
    code = quickstart.replace('"redis://localhost:6379/0"', repr(redis_server.url))
    namespace: dict[str, Any] = {}
    exec(compile(code, "README.rst", "exec"), namespace)
    namespace["c"].close()
    assert capsys.readouterr().out == "my-channel-1 the message as a string\n"
