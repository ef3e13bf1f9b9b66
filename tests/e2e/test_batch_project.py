"""A generated batch project, installed and run for real.

Render, install with ``make install``, build the demo model, run the project's own tests,
score generated input in the three formats with bad records mixed in, kill the job's process
with SIGKILL half-way (nothing of the job survives it) and re-run it (exactly one output row
per input id), check the packaging files with the tools that consume them, and (slow) run
the Ray engine in local mode.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import Project, Venv, prepare_project, render_project

pytestmark = pytest.mark.e2e

PACKAGE = "demo_batch"
KILL_AFTER_PARTS = 3
SURVIVOR_GRACE_S = 5.0
JOB_TIMEOUT_S = 300
RAY_TIMEOUT_S = 600

READ_OUTPUT = """
import json, sys
import pyarrow.parquet as pq
table = pq.read_table(sys.argv[1])
print(json.dumps({"ids": table.column("id").to_pylist(), "columns": table.column_names}))
"""


@pytest.fixture(scope="module")
def batch_project(
    tmp_path_factory: pytest.TempPathFactory, venv_for: Callable[[Path], Venv]
) -> Project:
    return prepare_project(
        tmp_path_factory.mktemp("batch") / "demo-batch",
        venv_for,
        pattern="batch",
        project_name="demo-batch",
        package=PACKAGE,
    )


def job(project: Project, *args: str, timeout: float = JOB_TIMEOUT_S) -> dict[str, Any]:
    """Run ``python -m demo_batch.batch ARGS`` and return its JSON line on stdout."""
    result = project.run(str(project.venv.python), "-m", f"{PACKAGE}.batch", *args, timeout=timeout)
    parsed: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return parsed


def sample(project: Project, path: Path, rows: int, bad: int = 0) -> dict[str, Any]:
    return job(project, "sample", "--path", str(path), "--rows", str(rows), "--bad-rows", str(bad))


def output_ids(project: Project, output: Path) -> list[Any]:
    result = project.run(str(project.venv.python), "-c", READ_OUTPUT, str(output / "predictions"))
    ids: list[Any] = json.loads(result.stdout)["ids"]
    return ids


def rejects(output: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for path in sorted((output / "rejects").glob("*.ndjson"))
        for line in path.read_text().splitlines()
    ]


def test_the_project_tests_and_lint_pass(batch_project: Project) -> None:
    tests = batch_project.run("make", "test", f"PYTHON={batch_project.venv.python}")
    assert " passed" in tests.stdout and " failed" not in tests.stdout
    batch_project.run("make", "lint", f"PYTHON={batch_project.venv.python}")


def test_make_run_scores_the_sample_input(batch_project: Project) -> None:
    result = batch_project.run(
        "make", "run", f"PYTHON={batch_project.venv.python}", "ROWS=5000", "OUTPUT=output-make"
    )
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["status"] == "succeeded"
    assert summary["counts"]["input"] == summary["counts"]["scored"] == 5000
    manifest = json.loads((batch_project.path / "output-make" / "run.json").read_text())
    assert manifest["inputs"][0]["records"] == 5000
    assert manifest["model"]["name"] == "breast-cancer-classifier"
    assert sorted(output_ids(batch_project, batch_project.path / "output-make")) == list(
        range(5000)
    )


@pytest.mark.parametrize("suffix", ["ndjson", "csv", "parquet"])
def test_bad_records_are_rejected_and_counted(
    batch_project: Project, tmp_path: Path, suffix: str
) -> None:
    rows, bad = 20_000, 40
    source = tmp_path / f"input.{suffix}"
    made = sample(batch_project, source, rows, bad)
    assert len(made["bad_ids"]) == bad
    output = tmp_path / "out"
    summary = job(
        batch_project,
        "run",
        "--input",
        str(source),
        "--output",
        str(output),
        "--part-mb",
        "0.5",
        "--block-mb",
        "0.125",
    )
    assert summary["counts"] == {
        "input": rows,
        "scored": rows - bad,
        "rejected": bad,
        "reject_rate": bad / rows,
    }
    found = rejects(output)
    assert sorted(entry["row"] - 1 for entry in found) == made["bad_ids"]
    assert all(entry["source"] == str(source) and entry["reason"] for entry in found)
    if suffix != "parquet":
        header = 1 if suffix == "csv" else 0
        assert all(entry["line"] == entry["row"] + header for entry in found)
    ids = output_ids(batch_project, output)
    assert sorted(ids) == sorted(set(range(rows)) - set(made["bad_ids"]))


def test_too_many_rejects_fail_the_run_with_exit_3(batch_project: Project, tmp_path: Path) -> None:
    source = tmp_path / "input.ndjson"
    sample(batch_project, source, 1000, 50)
    result = subprocess.run(
        [
            str(batch_project.venv.python),
            "-m",
            f"{PACKAGE}.batch",
            "run",
            "--input",
            str(source),
            "--output",
            str(tmp_path / "out"),
            "--max-reject-rate",
            "0.01",
        ],
        cwd=batch_project.path,
        env=batch_project.venv.env(),
        capture_output=True,
        text=True,
        timeout=JOB_TIMEOUT_S,
    )
    assert result.returncode == 3, result.stderr[-2000:]
    assert "50 of 1000 records rejected" in result.stderr
    manifest = json.loads((tmp_path / "out" / "run.json").read_text())
    assert manifest["status"] == "failed_reject_rate"


def session_members(session: int) -> list[int]:
    """Live processes of a session (the job is started as a session leader): children that
    outlive it keep its session id even when they are re-parented."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session and fields[0] != "Z":  # state, ppid, pgrp, session
            found.append(int(entry))
    return found


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def test_sigkill_of_the_job_leaves_nothing_running_and_a_rerun_scores_each_id_once(
    batch_project: Project, tmp_path: Path
) -> None:
    """kill -9 of the job's process alone (not its group, as an OOM killer or a lost node
    does): nothing of the job may live on and write into the output while a rerun starts."""
    rows = 120_000
    source = tmp_path / "input.ndjson"
    sample(batch_project, source, rows)
    output = tmp_path / "out"
    args = [
        str(batch_project.venv.python),
        "-m",
        f"{PACKAGE}.batch",
        "run",
        "--input",
        str(source),
        "--output",
        str(output),
        "--part-mb",
        "1",
        "--block-mb",
        "0.25",
        "--workers",
        "2",
    ]
    log = (tmp_path / "killed.log").open("wb")
    process = subprocess.Popen(
        args,
        cwd=batch_project.path,
        env=batch_project.venv.env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    markers = output / "_parts"
    try:
        deadline = time.monotonic() + JOB_TIMEOUT_S
        while time.monotonic() < deadline and process.poll() is None:
            if markers.is_dir() and len(list(markers.glob("*.json"))) >= KILL_AFTER_PARTS:
                break
            time.sleep(0.02)
        assert process.poll() is None, "the job ended before it could be killed"
        os.kill(process.pid, signal.SIGKILL)  # the job's process only
        process.wait(timeout=30)
        after_kill = snapshot(output)
        survivors = session_members(process.pid)
        deadline = time.monotonic() + SURVIVOR_GRACE_S
        while survivors and time.monotonic() < deadline:
            time.sleep(0.1)
            survivors = session_members(process.pid)
        assert survivors == [], f"processes of the killed job still run: {survivors}"
        assert snapshot(output) == after_kill, "the output changed after the job was killed"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        log.close()
    committed = len(list(markers.glob("*.json")))
    total_parts = json.loads((output / "run.json").read_text()).get("parts")
    assert total_parts is None  # the killed run never finished its manifest
    summary = job(batch_project, *args[3:])
    assert summary["status"] == "succeeded"
    assert summary["parts"]["skipped"] >= committed >= KILL_AFTER_PARTS
    assert summary["parts"]["scored"] == summary["parts"]["total"] - summary["parts"]["skipped"]
    assert summary["parts"]["scored"] > 0, "the killed run had already done everything"
    ids = output_ids(batch_project, output)
    assert len(ids) == rows
    assert sorted(ids) == list(range(rows))
    leftovers = [p.name for p in output.rglob(".*")]
    assert leftovers == []


def test_same_input_gives_byte_identical_predictions(
    batch_project: Project, tmp_path: Path
) -> None:
    source = tmp_path / "input.csv"
    sample(batch_project, source, 10_000, 10)
    first = tmp_path / "first"
    second = tmp_path / "second"
    job(batch_project, "run", "--input", str(source), "--output", str(first), "--workers", "1")
    job(batch_project, "run", "--input", str(source), "--output", str(second), "--workers", "2")
    one = json.loads((first / "run.json").read_text())
    two = json.loads((second / "run.json").read_text())
    assert one["predictions_sha256"] == two["predictions_sha256"]
    assert one["run_id"] != two["run_id"]
    for path in sorted((first / "predictions").iterdir()):
        assert path.read_bytes() == (second / "predictions" / path.name).read_bytes()


# ------------------------------------------------------------------ packaging (no install)


@pytest.fixture(
    scope="module",
    params=[(False, "onnx"), (True, "onnx"), (True, "torch")],
    ids=["cpu-onnx", "gpu-onnx", "gpu-torch"],
)
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    gpu, model_format = request.param
    dest = tmp_path_factory.mktemp("batch-packaging") / "nightly-scorer"
    return render_project(
        dest,
        pattern="batch",
        project_name="nightly-scorer",
        package="nightly_scorer",
        gpu=gpu,
        model_format=model_format,
    )


def tool(*args: str, cwd: Path) -> str:
    result = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def test_dockerfiles_pass_hadolint_and_run_the_job(rendered: Path) -> None:
    dockerfiles = sorted(rendered.glob("Dockerfile*"))
    answers = yaml.safe_load((rendered / ".copier-answers.yml").read_text())
    assert len(dockerfiles) == (2 if answers["gpu"] else 1)
    for path in dockerfiles:
        tool("hadolint", "--failure-threshold", "warning", path.name, cwd=rendered)
        text = path.read_text()
        assert 'ENTRYPOINT ["python", "-m", "nightly_scorer.batch"]' in text
        assert "USER 10001:10001" in text


def test_kubernetes_manifests_are_valid(rendered: Path) -> None:
    tool("kubernetes-validate", "--strict", "k8s/cronjob.yaml", "k8s/pvc.yaml", cwd=rendered)
    text = (rendered / "k8s" / "cronjob.yaml").read_text()
    assert "concurrencyPolicy: Forbid" in text
    assert ("nvidia.com/gpu: 1" in text) == (rendered / "Dockerfile.gpu").exists()


def test_alert_rules_pass_their_promtool_tests(rendered: Path) -> None:
    tool("promtool", "check", "rules", "alerts.yml", cwd=rendered / "observability")
    tool("promtool", "test", "rules", "alerts.test.yml", cwd=rendered / "observability")


def test_airflow_dag_compiles_and_names_the_job(rendered: Path) -> None:
    dag = rendered / "orchestration" / "airflow_dag.py"
    compile(dag.read_text(), str(dag), "exec")
    text = dag.read_text()
    assert 'IMAGE = "nightly-scorer' in text and "{{ ds }}" in text
    tool(sys.executable, "-m", "ruff", "check", "--no-cache", "orchestration", cwd=rendered)


def test_mlship_new_batch_renders_a_project(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlship",
            "new",
            "batch",
            str(tmp_path / "nightly"),
            "--defaults",
            "--no-git",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    for name in (
        "Makefile",
        "Dockerfile",
        "k8s/cronjob.yaml",
        "README.md",
        "src/nightly/batch/__main__.py",
        "tests/test_batch.py",
        "mlship.yaml",
    ):
        assert (tmp_path / "nightly" / name).is_file(), name
    assert "make run" in result.stdout


# ------------------------------------------------------------------ Ray (slow)


@pytest.mark.slow
@pytest.mark.timeout(RAY_TIMEOUT_S + 600)
def test_ray_engine_writes_what_the_local_engine_writes(
    batch_project: Project, tmp_path: Path
) -> None:
    """Ray installs into its own venv (about 800 MB), so only this test pays for it."""
    venv = Venv(tmp_path / "ray-venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv.path)], check=True)
    install = subprocess.run(
        [str(venv.python), "-m", "pip", "install", "-q", "-e", ".[dev,ray]"],
        cwd=batch_project.path,
        env=venv.env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    ray_project = Project(batch_project.path, PACKAGE, venv)
    source = tmp_path / "input.ndjson"
    made = sample(ray_project, source, 8000, 8)
    common = ["--input", str(source), "--part-mb", "1", "--block-mb", "0.25"]
    home = tmp_path / "home"
    home.mkdir()
    # Ray's socket paths must stay under 108 bytes: a short folder of our own, removed below
    ray_tmp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    command = [
        str(venv.python),
        "-m",
        f"{PACKAGE}.batch",
        "run",
        *common,
        "--output",
        str(tmp_path / "ray"),
        "--engine",
        "ray",
        "--workers",
        "1",
    ]
    env = venv.env(HOME=str(home), APP_RAY_TEMP_DIR=str(ray_tmp), RAY_USAGE_STATS_ENABLED="0")
    process = subprocess.Popen(
        command,
        cwd=batch_project.path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=RAY_TIMEOUT_S)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # Ray's own processes, if any are left
        process.wait()
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert process.returncode == 0, stderr[-4000:]
    result = subprocess.CompletedProcess(command, 0, stdout, stderr)
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["counts"]["rejected"] == len(made["bad_ids"])
    job(ray_project, "run", *common, "--output", str(tmp_path / "local"))
    ray_files = sorted((tmp_path / "ray" / "predictions").iterdir())
    assert len(ray_files) == summary["parts"]["total"] > 1
    for path in ray_files:
        assert path.read_bytes() == (tmp_path / "local" / "predictions" / path.name).read_bytes()
