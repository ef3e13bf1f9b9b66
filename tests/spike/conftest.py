"""Fixtures for spike's tests: real services on loopback, stopped by the fixture.

Every process started here is stopped by the fixture that started it (its whole
process group), and every load run is bounded by spike's own limits and a timeout.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

from tests.spike.helpers import SERVERS, Server, free_port, stop_group, wait_for_http


@pytest.fixture
def server() -> Iterator[Callable[..., Server]]:
    """Start ``tests/spike/servers.py`` with the given options; stopped after the test."""
    started: list[subprocess.Popen[bytes]] = []

    def start(mode: str, *args: str) -> Server:
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, str(SERVERS), "--port", str(port), "--mode", mode, *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        started.append(process)
        url = f"http://127.0.0.1:{port}"
        wait_for_http(url + "/health")
        return Server(url, process)

    yield start
    for process in started:
        stop_group(process)
