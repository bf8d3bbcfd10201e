"""The suite's own servers: a port taken between the check and the bind (the
suite's clients use ephemeral ports too) costs a retry, not the test."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from . import conftest


def test_a_taken_bus_port_makes_the_server_take_another(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    real = conftest.free_port
    with socket.socket() as taker:
        taker.bind(("127.0.0.1", 0))
        taker.listen(1)
        taken = int(taker.getsockname()[1]) - 10000  # its bus port is taken
        if taken < 1024:
            pytest.skip("the ephemeral port is too low to stand for a bus port")
        handed: list[int] = []

        def first_the_taken_one() -> int:
            port = taken if not handed else real()
            handed.append(port)
            return port

        monkeypatch.setattr(conftest, "free_port", first_the_taken_one)
        server: Any = conftest.RedisServer("--cluster-enabled", "yes",
                                           "--cluster-config-file", "nodes.conf")
        try:
            assert handed[0] == taken and server.port == handed[1] != taken
            assert server.client().ping()
        finally:
            server.stop()
