"""Bad input and failing environments: a clear message, the right exit code, nothing written."""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

import pytest

from tests.spike.helpers import (
    free_port,
    make_project,
    server_command,
    spike_cli,
    write_payloads,
)

EXIT_BAD_INPUT = 2
EXIT_ENVIRONMENT = 3


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project whose service is never started by these tests (input is checked first)."""
    return make_project(tmp_path / "proj", server_command("fast"), budget={"p99_ms": 100})


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--rate", "0"], "--rate: 0.0 must be a positive number"),
        (["--rate", "-5"], "--rate: -5.0 must be a positive number"),
        (["--users", "0"], "--users: 0 must be a positive number"),
        (["--users", "-2"], "--users: -2 must be a positive number"),
        (["--duration", "0"], "--duration: '0' must be longer than zero"),
        (["--duration", "-3s"], "--duration: '-3s' is not a duration"),
        (["--duration", "10x"], "--duration: '10x' is not a duration"),
        (["--duration", "2h"], "longer than the limit"),
        (["--rate", "5", "--users", "2"], "--rate and --users describe different load models"),
        (["--spawn-rate", "0"], "--spawn-rate: 0.0 must be a positive number"),
        (["--timeout", "0s"], "--timeout: '0s' must be longer than zero"),
        (["--workers", "0"], "--workers: 0 must be 1 or more"),
        (["--invalid-share", "1"], "--invalid-share: 1.0 must be at least 0 and below 1"),
        (["--max-error-rate", "1.5"], "--max-error-rate: 1.5 must be between 0 and 1"),
        (["--p99-ms", "-1"], "--p99-ms: -1.0 must be a positive number"),
        (["--arrivals", "bursty"], "--arrivals: 'bursty' is not one of uniform, poisson"),
        (["--find-capacity", "--rate", "5"], "--find-capacity chooses the rates itself"),
        (["--path", "v1/predict"], "--path: 'v1/predict' must start with /"),
    ],
)
def test_bad_flags_exit_2_and_write_nothing(
    project: Path, tmp_path: Path, args: list[str], expected: str
) -> None:
    out = tmp_path / "out"
    run = spike_cli(str(project), *args, "--out", str(out))
    assert run.code == EXIT_BAD_INPUT, run.stdout + run.stderr
    assert expected in run.stderr
    assert "Traceback" not in run.stderr
    assert not out.exists()
    assert not (project / "spikes").exists()


def test_find_capacity_needs_a_p99_budget(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", server_command("fast"), budget={"max_error_rate": 0.01})
    run = spike_cli(str(project), "--find-capacity")
    assert run.code == EXIT_BAD_INPUT
    assert "--find-capacity needs a p99 budget" in run.stderr
    assert "--p99-ms" in run.stderr


def test_invalid_payload_file_names_the_lines(project: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.ndjson"
    bad.write_text('{"instances": [[1, 2, 3, 4]]}\n{"instances": [[1, 2\n\n42\n')
    run = spike_cli(str(project), "--payloads", str(bad), "--rate", "5")
    assert run.code == EXIT_BAD_INPUT
    assert "has invalid lines" in run.stderr
    assert re.search(r"line 2: not valid JSON", run.stderr)
    assert "line 4: a request body must be a JSON object or array" in run.stderr
    assert "line 1" not in run.stderr and "line 3" not in run.stderr


def test_missing_payload_file(project: Path, tmp_path: Path) -> None:
    run = spike_cli(str(project), "--payloads", str(tmp_path / "nope.ndjson"))
    assert run.code == EXIT_BAD_INPUT
    assert "does not exist" in run.stderr


def test_empty_payload_file(project: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.ndjson"
    empty.write_text("\n\n")
    run = spike_cli(str(project), "--payloads", str(empty))
    assert run.code == EXIT_BAD_INPUT
    assert "holds no request body" in run.stderr


def test_invalid_decision_record_names_the_field(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", server_command("fast"), budget={"p99_ms": -5})
    run = spike_cli(str(project), "--rate", "5")
    assert run.code == EXIT_BAD_INPUT
    assert "invalid decision record" in run.stderr
    assert "budget.p99_ms" in run.stderr


def test_directory_without_makefile(tmp_path: Path) -> None:
    run = spike_cli(str(tmp_path))
    assert run.code == EXIT_BAD_INPUT
    assert "has no Makefile" in run.stderr


def test_url_without_payloads_or_manifest(tmp_path: Path) -> None:
    run = spike_cli("http://127.0.0.1:9/", cwd=tmp_path)
    assert run.code == EXIT_BAD_INPUT
    assert "no request bodies" in run.stderr


def test_unreachable_target_exits_3(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    payloads = write_payloads(tmp_path / "p.ndjson")
    run = spike_cli(f"http://127.0.0.1:{port}", "--payloads", str(payloads), cwd=tmp_path)
    assert run.code == EXIT_ENVIRONMENT, run.stderr
    assert f"target http://127.0.0.1:{port} is unreachable" in run.stderr
    assert run.seconds < 15
    assert not (tmp_path / "spikes").exists()


def _port_closed(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_service_that_never_becomes_ready(tmp_path: Path) -> None:
    """Bounded wait, then a clear error with the service's log tail; the service is stopped."""
    project = make_project(
        tmp_path / "p", server_command("fast", "--never-ready"), budget={"p99_ms": 50}
    )
    start = time.monotonic()
    run = spike_cli(str(project), "--rate", "5", "--duration", "2s", "--ready-timeout", "4s")
    elapsed = time.monotonic() - start
    assert run.code == EXIT_ENVIRONMENT, run.stderr
    assert "did not become ready within 4 s" in run.stderr
    match = re.search(r"test server: mode fast on 127\.0\.0\.1:(\d+)", run.stderr)
    assert match, run.stderr  # the log tail is shown
    assert elapsed < 4 + 20
    assert _port_closed(int(match.group(1)))  # spike stopped what it started


def test_service_that_exits_at_once(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", "@echo 'cannot load model.onnx' && exit 4")
    run = spike_cli(str(project), "--rate", "5", "--ready-timeout", "20s")
    assert run.code == EXIT_ENVIRONMENT
    assert "the service exited with code" in run.stderr
    assert "cannot load model.onnx" in run.stderr
    assert run.seconds < 15
