"""Ctrl-C during a spike: everything started is stopped, what was measured is kept.

The tests send SIGINT to ``mlship spike`` as a terminal's Ctrl-C does (spike runs the
service and the load generator in process groups of their own, so only spike gets it).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.spike.helpers import make_project, server_command

EXIT_INTERRUPTED = 130


def _start(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.Popen(
        [sys.executable, "-m", "mlship", "spike", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _wait_for(predicate: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError("the spike never got that far")


def _records(project: Path) -> int:
    return sum(
        len(f.read_text().splitlines()) for f in project.glob("spikes/*/work/raw/records-*.csv")
    )


def _port_closed(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_ctrl_c_keeps_the_partial_result_marked_interrupted(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", server_command("fast"), budget={"p99_ms": 100})
    process = _start(str(project), "--rate", "20", "--duration", "60s", "--json")
    try:
        _wait_for(lambda: _records(project) > 20, timeout=90)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == EXIT_INTERRUPTED, err
    result = json.loads(out)
    assert result["interrupted"] is True
    assert result["verdict"] is None and result["criteria"] == []
    assert 0 < result["stats"]["requests"] < 20 * 60
    assert result["notes"][0].startswith("Interrupted (Ctrl-C)")
    saved = Path(result["artifacts"]["json"])
    assert json.loads(saved.read_text()) == result
    assert "interrupted (no verdict)" in Path(result["artifacts"]["markdown"]).read_text()
    port = int(result["target"]["url"].rsplit(":", 1)[1])
    assert _port_closed(port), "spike stopped the service it started"


def test_ctrl_c_before_anything_was_measured_leaves_nothing(tmp_path: Path) -> None:
    project = make_project(
        tmp_path / "p", server_command("fast", "--never-ready"), budget={"p99_ms": 100}
    )
    process = _start(str(project), "--rate", "20", "--ready-timeout", "60s")
    try:
        _wait_for(lambda: any(project.glob("spikes/*/service.log")), timeout=60)
        time.sleep(1.0)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == EXIT_INTERRUPTED, err
    assert "nothing measured" in err
    assert "Traceback" not in err
    assert not (project / "spikes").exists()
