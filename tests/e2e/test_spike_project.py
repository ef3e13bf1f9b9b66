"""spike against real generated projects of every pattern, made with ``mlship new``.

Each project is rendered, installed into its own venv and given its model, as its README
says; spike reads the pattern from its ``mlship.yaml`` and runs that pattern's load: a
service on a free loopback port (online, chained), the batch job on generated rows, the
exported edge variants, a consumer behind a broker spike starts (streaming). Each passes
a generous budget and fails an impossible one, with the reports written and the exit
codes right. Projects are reached through a ``.venv`` in the project folder while
another environment (mlship's own) is active: spike must use the project's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Project, Venv

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # minutes: CI runs it with -m slow

EXIT_PASS, EXIT_FAIL, EXIT_BAD_INPUT = 0, 1, 2


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


def _user_env() -> dict[str, str]:
    """mlship's own environment active, as when a user runs the mlship they installed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APP_", "PYTHON"))}
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(Path(sys.executable).parent.parent)
    env.update({"NO_COLOR": "1", "COLUMNS": "200"})
    return env


def spike_as_user(
    project: Path, *args: str, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """``mlship spike .`` run in the project folder, the way its README says."""
    return subprocess.run(
        [sys.executable, "-m", "mlship", "spike", ".", *args],
        cwd=project,
        capture_output=True,
        text=True,
        env=_user_env(),
        timeout=timeout,
    )


def new_project(
    root: Path, venv_for: Callable[[Path], Venv], pattern: str, name: str, *args: str
) -> Project:
    """``mlship new``, the project's dependencies in a venv, ``make model``; the venv is
    linked as the project's ``.venv`` (where its README creates one)."""
    dest = root / name
    made = subprocess.run(
        [sys.executable, "-m", "mlship", "new", pattern, str(dest), "--no-git", *args],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    project = Project(dest, name.replace("-", "_"), venv_for(dest))
    project.run("make", "model", timeout=900)
    (dest / ".venv").symlink_to(project.venv.path, target_is_directory=True)
    return project


def _result(run: subprocess.CompletedProcess[str], code: int) -> dict[str, Any]:
    assert run.returncode == code, run.stdout[-4000:] + run.stderr[-4000:]
    assert "Traceback" not in run.stderr
    result: dict[str, Any] = json.loads(run.stdout)
    saved = Path(result["artifacts"]["json"])
    assert json.loads(saved.read_text()) == result
    for kind in ("markdown", "html"):
        assert Path(result["artifacts"][kind]).is_file()
    return result


def _criteria(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in result["criteria"]}


def _budget_findings(project: Path, **budget: float | None) -> list[str]:
    """``mlship check``'s budget findings on the project's real spike reports, with
    ``budget`` set in its mlship.yaml first (the check judges the record, not the flags a
    spike was given)."""
    import yaml

    from mlship.lifecycle.check import check_project

    if budget:
        record_file = project / "mlship.yaml"
        record = yaml.safe_load(record_file.read_text())
        record["budget"].update(budget)
        record_file.write_text(yaml.safe_dump(record, sort_keys=False))
    result = check_project(project)
    return [f.message for f in result.findings if f.rule.startswith("budget.")]


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


# ---------------------------------------------------------------- online


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
    """``mlship new`` writes the budget into mlship.yaml; a bare ``mlship spike .`` in the
    project, with mlship's own environment active, serves it with its .venv and uses the
    budget: the open model at the target rate, judged on p99, error rate and throughput.
    An impossible budget fails."""
    get_venv = request.getfixturevalue("venv_for")
    project = new_project(
        tmp_path, get_venv, "online", "fraud-scorer", "--p99-ms", "500", "--target-rps", "20"
    )
    run = spike_as_user(project.path, "--duration", "4s", "--ready-timeout", "120s", "--json")
    result = _result(run, EXIT_PASS)
    assert result["budget"]["source"] == {
        "p99_ms": "mlship.yaml", "max_error_rate": "mlship.yaml", "min_rps": "mlship.yaml",
    }  # fmt: skip
    assert (result["pattern"], result["kind"]) == ("online", "service")
    assert (result["profile"]["kind"], result["profile"]["rate"]) == ("open", 20.0)
    assert list(_criteria(result)) == ["p99_ms", "max_error_rate", "min_rps"]
    assert result["verdict"] == "PASS", result["criteria"]
    assert Path(result["artifacts"]["dir"]).parent == project.path / "spikes"
    # mlship check reads the report spike just wrote and agrees with its verdict
    assert _budget_findings(project.path) == []

    failed = spike_as_user(
        project.path, "--duration", "2s", "--p99-ms", "0.001", "--ready-timeout", "120s", "--json"
    )
    result = _result(failed, EXIT_FAIL)
    assert result["verdict"] == "FAIL"
    assert not _criteria(result)["p99_ms"]["passed"]


# ---------------------------------------------------------------- batch


@pytest.fixture(scope="module")
def batch_project(
    tmp_path_factory: pytest.TempPathFactory, venv_for: Callable[[Path], Venv]
) -> Project:
    return new_project(tmp_path_factory.mktemp("spike-batch"), venv_for, "batch", "nightly-scores")


def test_batch_spike_runs_the_job_on_generated_rows(batch_project: Project) -> None:
    run = spike_as_user(
        batch_project.path,
        "--input-rows",
        "20000",
        "--invalid-share",
        "0.001",
        "--min-rps",
        "10",
        "--max-memory-mb",
        "16000",
        "--json",
    )
    result = _result(run, EXIT_PASS)
    assert (result["pattern"], result["kind"], result["verdict"]) == ("batch", "job", "PASS")
    assert result["stats"] is None and result["budget"]["unit"] == "rows/s"
    assert list(_criteria(result)) == ["min_rps", "max_memory_mb", "max_error_rate"]
    batch = result["batch"]
    # the project's own sampler planted 20 bad rows; its job rejected exactly those
    assert (batch["rows"], batch["planted_bad"], batch["rejected"]) == (20000, 20, 20)
    assert batch["unexpected_rejects"] == 0 and batch["exit_code"] == 0
    assert batch["rows_per_s"] > 0 and batch["job_seconds"] > 0
    assert batch["peak_memory_mb"] > 10 and batch["processes"] >= 2  # make and the job
    assert sum(p["records"] for p in batch["parts"]) == 20000
    assert all(p["done_at_s"] is not None for p in batch["parts"])
    assert batch["timeseries"][-1]["rows_done"] == 20000
    run_dir = Path(result["artifacts"]["dir"])
    assert run_dir.parent == batch_project.path / "spikes"
    assert json.loads((run_dir / "job-run.json").read_text())["counts"]["input"] == 20000
    assert not (run_dir / "work").exists(), "the generated input and predictions are removed"
    html = Path(result["artifacts"]["html"]).read_text()
    assert 'id="part-throughput"' in html and 'id="memory-over-time"' in html
    # mlship check judges this real report against the batch budget in mlship.yaml: no p99,
    # the reject rate and peak memory met; a throughput the job cannot reach is not
    assert _budget_findings(batch_project.path) == []
    (missed,) = _budget_findings(batch_project.path, min_rps=1e9)
    assert "throughput" in missed and "rows/s < 1e+09 rows/s" in missed
    assert "p99" not in missed
    _budget_findings(batch_project.path, min_rps=None)


def test_batch_spike_fails_a_throughput_the_job_cannot_reach(batch_project: Project) -> None:
    run = spike_as_user(
        batch_project.path, "--input-rows", "5000", "--min-rps", "1000000000", "--json"
    )
    result = _result(run, EXIT_FAIL)
    criteria = _criteria(result)
    assert not criteria["min_rps"]["passed"]
    assert "falls short of the target of 1000000000 rows/s" in criteria["min_rps"]["reason"]
    assert criteria["max_memory_mb"]["passed"] and criteria["max_error_rate"]["passed"]
    assert criteria["max_memory_mb"]["limit"] == 4096  # the knowledge base's default
    runs = sorted((batch_project.path / "spikes").iterdir())
    compared = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlship",
            "spike",
            "--compare",
            str(runs[0]),
            str(runs[-1]),
            "--json",
        ],
        capture_output=True,
        text=True,
        env=_user_env(),
        timeout=60,
    )
    assert compared.returncode == 0, compared.stderr
    names = {m["name"] for m in json.loads(compared.stdout)["metrics"]}
    assert {"rows_per_s", "peak_memory_mb", "reject_rate"} <= names


@pytest.mark.slow
def test_ctrl_c_stops_the_job_and_keeps_the_parts_it_finished(batch_project: Project) -> None:
    runs = batch_project.path / "spikes"
    before = set(runs.iterdir()) if runs.exists() else set()
    process = subprocess.Popen(
        [sys.executable, "-m", "mlship", "spike", ".", "--input-rows", "300000", "--json"],
        cwd=batch_project.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_user_env(),
    )
    try:
        deadline = time.monotonic() + 300
        while not list(runs.glob("*/work/output/_parts/*.json")) and time.monotonic() < deadline:
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    result = _result(subprocess.CompletedProcess(process.args, process.returncode, out, err), 130)
    assert result["interrupted"] is True and result["verdict"] is None
    batch = result["batch"]
    assert batch["status"] == "interrupted" and 0 < batch["rows"] < 300000
    assert batch["rows"] == sum(p["records"] for p in batch["parts"])
    (new_run,) = set(runs.iterdir()) - before
    assert not (new_run / "work").exists()
    import psutil

    left = [
        p.info["pid"]
        for p in psutil.process_iter(["pid", "cmdline"])
        if f"{batch_project.package}.batch" in " ".join(p.info["cmdline"] or [])
    ]
    assert not left, "spike stopped the job it started"


def test_bad_input_to_a_batch_project_leaves_no_run_folder(batch_project: Project) -> None:
    runs = batch_project.path / "spikes"
    before = sorted(runs.iterdir()) if runs.exists() else None
    readme = batch_project.path / "README.md"
    for args in (["--users", "4"], ["--p99-ms", "50"], ["--out", str(readme)]):
        run = spike_as_user(batch_project.path, *args)
        assert run.returncode == EXIT_BAD_INPUT, run.stdout + run.stderr
        assert "Traceback" not in run.stderr
    assert (sorted(runs.iterdir()) if runs.exists() else None) == before


# ---------------------------------------------------------------- edge


@pytest.fixture(scope="module")
def edge_project(
    tmp_path_factory: pytest.TempPathFactory, venv_for: Callable[[Path], Venv]
) -> Project:
    # The scikit-learn demo exported to ONNX: the same spike path as a PyTorch project's,
    # without installing torch and its converters into one more venv.
    return new_project(
        tmp_path_factory.mktemp("spike-edge"),
        venv_for,
        "edge",
        "pocket-model",
        "--model-format",
        "sklearn",
    )


def test_edge_spike_exports_then_runs_every_variant_as_the_device(edge_project: Project) -> None:
    assert not (edge_project.path / "dist").exists()
    run = spike_as_user(edge_project.path, "--duration", "0.5s", "--p99-ms", "1000", "--json")
    result = _result(run, EXIT_PASS)
    assert (result["pattern"], result["kind"]) == ("edge", "export")
    edge = result["edge"]
    assert edge["target"] == "mobile" and edge["threads"] == 4  # the knowledge base's phone
    assert edge["latency"] == "estimated" and edge["device_factor"] == 3.0
    names = [v["name"] for v in edge["variants"]]
    exported = json.loads((edge_project.path / "dist" / "report.json").read_text())
    assert names == [v["name"] for v in exported["variants"]] and len(names) >= 2
    (shipped,) = [v for v in edge["variants"] if v["shipped"]]
    assert shipped["name"] == exported["recommendation"]["variant"] == edge["shipped"]
    for variant in edge["variants"]:
        assert [c["rows"] for c in variant["cases"]] == [1, 16]
        assert variant["memory_mb"] > 0 and variant["size_mb"] > 0
        for case in variant["cases"]:
            assert case["device_p99_ms"] == pytest.approx(case["p99_ms"] * 3.0, rel=1e-3)
    assert list(_criteria(result)) == ["p99_ms", "max_model_mb"]
    assert "(estimated)" in _criteria(result)["p99_ms"]["reason"]
    assert any("spike ran the project's export first" in n for n in result["notes"])
    assert "estimated" in Path(result["artifacts"]["markdown"]).read_text()
    # mlship check judges the shipped variant of this real report on the device budget
    (missed,) = _budget_findings(edge_project.path, p99_ms=1000.0, max_model_mb=1e-6)
    assert "model file" in missed and "MiB > 1e-06 MiB" in missed and "p99" not in missed


def test_edge_spike_fails_a_device_budget_it_cannot_meet(edge_project: Project) -> None:
    run = spike_as_user(edge_project.path, "--duration", "0.3s", "--p99-ms", "0.0001", "--json")
    result = _result(run, EXIT_FAIL)
    assert not _criteria(result)["p99_ms"]["passed"]
    measured = spike_as_user(
        edge_project.path, "--duration", "0.3s", "--device-factor", "1", "--json"
    )
    assert json.loads(measured.stdout)["edge"]["latency"] == "measured", measured.stderr


# ---------------------------------------------------------------- chained


@pytest.fixture(scope="module")
def chained_project(
    tmp_path_factory: pytest.TempPathFactory, venv_for: Callable[[Path], Venv]
) -> Project:
    return new_project(tmp_path_factory.mktemp("spike-chained"), venv_for, "chained", "helper")


def test_chained_spike_loads_the_pipeline_with_its_own_corpus(chained_project: Project) -> None:
    common = ["--rate", "10", "--ready-timeout", "120s", "--json"]
    run = spike_as_user(chained_project.path, "--duration", "3s", "--invalid-share", "0.2", *common)
    result = _result(run, EXIT_PASS)
    assert (result["pattern"], result["kind"]) == ("chained", "service")
    assert result["profile"]["payloads"].startswith("generated from the project's corpus")
    stats = result["stats"]
    assert stats["errors"] == 0, stats["errors_by_kind"]
    assert stats["invalid"]["rejected_4xx"] == stats["invalid"]["sent"] > 0
    assert result["budget"]["p99_ms"] == 250.0  # the chained pattern's default
    # spike judged mlship.yaml's budget; mlship check reads the same report and agrees,
    # and holds it to a p99 no pipeline meets once the record asks for one
    assert _budget_findings(chained_project.path) == []
    (missed,) = _budget_findings(chained_project.path, p99_ms=0.001)
    assert "misses the chained budget" in missed and "ms > 0.001 ms" in missed
    _budget_findings(chained_project.path, p99_ms=250.0)

    failed = spike_as_user(chained_project.path, "--duration", "2s", "--p99-ms", "0.001", *common)
    assert not _criteria(_result(failed, EXIT_FAIL))["p99_ms"]["passed"]


# ---------------------------------------------------------------- streaming


@pytest.fixture(scope="module")
def streaming_project(
    tmp_path_factory: pytest.TempPathFactory, venv_for: Callable[[Path], Venv]
) -> Project:
    return new_project(
        tmp_path_factory.mktemp("spike-stream"), venv_for, "streaming", "click-scorer"
    )


@pytest.mark.slow
def test_streaming_spike_runs_broker_consumer_and_load(streaming_project: Project) -> None:
    run = spike_as_user(
        streaming_project.path, "--rate", "100", "--duration", "4s", "--timeout", "20s", "--json"
    )
    result = _result(run, EXIT_PASS)
    assert (result["pattern"], result["kind"]) == ("streaming", "consumer")
    assert list(_criteria(result)) == ["p99_ms", "max_lag", "max_error_rate"]
    stream = result["stream"]
    assert stream["broker_started_by_spike"] and stream["end_lag"] == 0
    assert stream["predictions"] == result["stats"]["requests"] == 400
    assert stream["dead_lettered"] == stream["missing"] == 0
    assert result["stats"]["schedule"]["offered_rps"] == 100
    lines = Path(result["artifacts"]["raw"]).read_text().splitlines()
    assert lines[0] == "t,latency_ms,outcome,valid,late" and len(lines) == 401
    assert Path(result["artifacts"]["consumer_log"]).read_text().strip()

    failed = spike_as_user(
        streaming_project.path, "--rate", "50", "--duration", "2s", "--p99-ms", "0.001", "--json"
    )
    assert not _criteria(_result(failed, EXIT_FAIL))["p99_ms"]["passed"]

    searched = spike_as_user(
        streaming_project.path,
        "--find-capacity",
        "--start-rate",
        "50",
        "--step-duration",
        "2s",
        "--max-search-time",
        "20s",
        "--timeout",
        "10s",
        "--json",
    )
    result = json.loads(searched.stdout)
    assert searched.returncode in (EXIT_PASS, EXIT_FAIL), searched.stderr[-3000:]
    capacity = result["capacity"]
    assert capacity["steps"] and capacity["steps"][0]["rate"] == 50
    steps = [k for k in result["artifacts"] if k.startswith("raw-step-")]
    assert len(steps) == len(capacity["steps"]) or (len(capacity["steps"]) == 1 and steps == [])


def _consumer_pids(package: str) -> list[int]:
    import psutil

    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        line = process.info["cmdline"] or []
        if "-m" in line and f"{package}.streaming" in line:
            found.append(process.info["pid"])
    return found


def _load_running(package: str) -> bool:
    import psutil

    return any(
        f"{package}.streaming.spike" in (p.info["cmdline"] or [])
        for p in psutil.process_iter(["cmdline"])
    )


@pytest.mark.slow
def test_streaming_spike_fails_on_lag_when_the_consumer_stops(streaming_project: Project) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlship",
            "spike",
            ".",
            "--rate",
            "100",
            "--duration",
            "10s",
            "--timeout",
            "5s",
            "--json",
        ],
        cwd=streaming_project.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_user_env(),
    )
    try:
        deadline = time.monotonic() + 180
        while not _load_running(streaming_project.package) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(3.0)  # well into the schedule
        pids = _consumer_pids(streaming_project.package)
        assert pids, "the consumer spike started is running"
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        out, err = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    result = _result(subprocess.CompletedProcess(process.args, process.returncode, out, err), 1)
    lag = _criteria(result)["max_lag"]
    assert not lag["passed"] and lag["measured"] > 0
    assert result["stream"]["consumer_stopped_at_s"] is not None
    assert result["stream"]["missing"] > 0
    # mlship check reads this real report and finds the same lag against mlship.yaml
    (missed,) = _budget_findings(streaming_project.path)
    assert "consumer lag at the end" in missed and "> 0 events" in missed
