"""spike against a real generated online project: it starts the service with the project's
own ``make serve`` on a free loopback port, loads it and stops it again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import Project

pytestmark = pytest.mark.e2e


def _spike(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    # the project's venv first on PATH (and in PYTHON) so that `make serve` runs in it;
    # mlship itself runs from the interpreter under test
    env = project.venv.env(NO_COLOR="1", COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "mlship", "spike", str(project.path), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_spike_runs_a_generated_online_service(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    project: Project = request.getfixturevalue("online_project")
    run = _spike(
        project,
        "--rate",
        "25",
        "--duration",
        "4s",
        "--invalid-share",
        "0.2",
        "--p99-ms",
        "500",
        "--max-error-rate",
        "0.01",
        "--ready-timeout",
        "120s",
        "--out",
        str(tmp_path),
        "--json",
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(run.stdout)
    assert result["target"]["started_by_spike"] is True
    assert result["verdict"] == "PASS"
    stats = result["stats"]
    assert stats["requests"] == 100
    # bodies built from the project's manifest are accepted by its service; the invalid
    # share is rejected with a 4xx (the service validates its input under load)
    assert stats["errors"] == 0, stats["errors_by_kind"]
    assert stats["invalid"]["rejected_4xx"] == stats["invalid"]["sent"] > 0
    assert result["profile"]["payloads"].startswith("generated from")
    log = Path(result["artifacts"]["service_log"]).read_text()
    assert log.strip(), "the service log was captured"
    port = int(result["target"]["url"].rsplit(":", 1)[1])
    assert not _listening(port), "spike stopped the service it started"
    assert os.path.isfile(result["artifacts"]["html"])


def test_spike_judges_a_new_project_by_its_decision_record(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """``mlship new`` writes the budget into mlship.yaml; a bare ``mlship spike`` uses it:
    the open model at the target rate, judged on p99, error rate and throughput."""
    get_venv = request.getfixturevalue("venv_for")
    dest = tmp_path / "fraud-scorer"
    subprocess.run(
        [sys.executable, "-m", "mlship", "new", "online", str(dest), "--p99-ms", "500",
         "--target-rps", "20"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    project = Project(dest, "fraud_scorer", get_venv(dest))
    project.run("make", "model", timeout=900)
    run = _spike(project, "--duration", "4s", "--ready-timeout", "120s", "--json")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(run.stdout)
    assert result["budget"]["source"] == {
        "p99_ms": "mlship.yaml", "max_error_rate": "mlship.yaml", "min_rps": "mlship.yaml",
    }  # fmt: skip
    assert (result["profile"]["kind"], result["profile"]["rate"]) == ("open", 20.0)
    assert [c["name"] for c in result["criteria"]] == ["p99_ms", "max_error_rate", "min_rps"]
    assert result["verdict"] == "PASS", result["criteria"]
    assert Path(result["artifacts"]["dir"]).parent == dest / "spikes"
