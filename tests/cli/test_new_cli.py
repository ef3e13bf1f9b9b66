"""``mlship new`` from the command line: exit codes, messages, ``--json``, ``--from``, prompts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlship.contracts import Answers, Budget, DecisionRecord
from tests.model_files import FEATURES, skops_file

JSON_KEYS = {
    "dest",
    "pattern",
    "project_name",
    "package",
    "model_format",
    "gpu",
    "files",
    "overwritten",
    "model",
    "cuda",
    "git",
    "warnings",
    "next",
    "render_seconds",
}


def mlship(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "mlship", "new", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def test_json_output_is_the_result_contract(tmp_path: Path) -> None:
    done = mlship("online", "svc", "--json", "--no-git", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) == JSON_KEYS
    assert result["dest"] == str(tmp_path / "svc")
    assert result["pattern"] == "online"
    assert "mlship.yaml" in result["files"]
    assert result["next"] == ["cd svc", "make install", "make model", "make test", "make serve"]
    assert result["git"] == {"initialized": False, "commit": None, "note": "skipped (--no-git)"}


def test_human_output_shows_the_tree_and_the_next_commands(tmp_path: Path) -> None:
    done = mlship("online", "svc", "--defaults", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "├── " in done.stdout and "mlship.yaml" in done.stdout
    assert done.stdout.rstrip().endswith(
        "cd svc\n  make install\n  make model\n  make test\n  make serve"
    )
    assert (tmp_path / "svc" / ".git").is_dir()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["online", "svc", "--name", "../x"], "name: '../x' is a path"),
        (["online", "svc", "--p99-ms", "-5"], "--p99-ms: Input should be greater than 0"),
        (
            ["online", "svc", "--max-error-rate", "2"],
            "--max-error-rate: Input should be less than or equal to 1",
        ),
        (["online", "svc", "--model-format", "tflite"], "--model-format: 'tflite' is not allowed"),
        (["online", "svc", "--python", "3.9"], "--python: '3.9' is not allowed"),
        (
            ["online", "svc", "--package", "json"],
            "package: 'json' would shadow the standard library",
        ),
        (
            ["serverless", "svc"],
            "pattern: 'serverless' is not a deployment pattern hint: choose one of: online, batch, edge, streaming, chained",
        ),
        (["online"], "dest: missing"),
        (
            ["online", "svc", "--from", "nowhere.yaml"],
            "decision record nowhere.yaml does not exist",
        ),
        (
            ["batch", "svc", "--p99-ms", "40"],
            "--p99-ms: a batch project's budget has no p99_ms",
        ),
        (
            ["edge", "svc", "--max-error-rate", "0.01"],
            "--max-error-rate: an edge project's budget has no max_error_rate",
        ),
    ],
)
def test_bad_input_exits_2_naming_the_field_without_a_traceback(
    tmp_path: Path, args: list[str], says: str
) -> None:
    done = mlship(*args, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert says in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_pattern_without_a_template_exits_2_listing_the_available_templates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A knowledge base may name a pattern that this mlship ships no template for."""
    from typer.testing import CliRunner

    import mlship.new.plan
    from mlship.cli import app

    monkeypatch.setattr(mlship.new.plan, "available_templates", lambda overlay=None: ["online"])
    done = CliRunner().invoke(app, ["new", "batch", str(tmp_path / "svc"), "--defaults"])
    assert done.exit_code == 2
    assert "no template for 'batch' yet" in done.output
    assert "available templates: online" in done.output
    assert not (tmp_path / "svc").exists()


def test_a_non_empty_destination_exits_2_and_force_keeps_user_files(tmp_path: Path) -> None:
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "notes.txt").write_text("mine")
    done = mlship("online", "svc", cwd=tmp_path)
    assert done.returncode == 2
    assert "is not empty" in done.stderr and "--force" in done.stderr
    done = mlship("online", "svc", "--force", "--no-git", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "svc" / "notes.txt").read_text() == "mine"
    assert json.loads(done.stdout)["overwritten"] == []


def test_a_torch_model_without_input_schema_exits_2_saying_so(tmp_path: Path) -> None:
    (tmp_path / "net.pt").write_bytes(b"x")
    done = mlship("online", "svc", "--model", "net.pt", cwd=tmp_path)
    assert done.returncode == 2
    assert "--input-schema FILE is needed" in " ".join(done.stderr.split())
    assert not (tmp_path / "svc").exists()


def test_a_user_model_goes_into_models_with_its_manifest(tmp_path: Path) -> None:
    skops_file(tmp_path / "churn.skops")
    done = mlship("online", "svc", "--model", "churn.skops", "--json", "--no-git", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["model_format"] == "onnx"
    assert result["model"]["source_model"]["file"] == "churn.skops"
    assert result["model"]["input"]["features"] == FEATURES
    manifest = json.loads((tmp_path / "svc" / "models" / "manifest.json").read_text())
    assert manifest == result["model"]


def test_from_a_decision_record_the_pattern_may_be_left_out(tmp_path: Path) -> None:
    record = DecisionRecord(
        mlship_version="0.1.0",
        pattern="online",
        answers=Answers.model_validate(
            {"traffic": {"arrival": "requests"}, "latency": {"p99_ms": 35.0}}
        ),
        budget=Budget(p99_ms=35.0, max_error_rate=0.005),
    )
    (tmp_path / "decision.yaml").write_text(yaml.safe_dump(record.model_dump(mode="json")))
    done = mlship("--from", "decision.yaml", "svc", "--min-rps", "120", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    written = yaml.safe_load((tmp_path / "svc" / "mlship.yaml").read_text())
    assert written["budget"] == {"p99_ms": 35.0, "max_error_rate": 0.005, "min_rps": 120.0}
    assert written["answers"]["latency"]["p99_ms"] == 35.0


def test_an_invalid_decision_record_exits_2_naming_the_field(tmp_path: Path) -> None:
    (tmp_path / "decision.yaml").write_text("mlship_version: '0.1.0'\npattern: serverless\n")
    done = mlship("--from", "decision.yaml", "svc", cwd=tmp_path)
    assert done.returncode == 2
    assert "invalid decision record decision.yaml" in done.stderr
    assert "pattern 'serverless' is not a deployment pattern" in done.stderr


def test_on_a_terminal_it_asks_what_the_options_did_not_answer(tmp_path: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    env = {**os.environ, "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "200"}
    child = pexpect.spawn(
        sys.executable,
        ["-m", "mlship", "new", "online", "svc", "--no-git"],
        cwd=str(tmp_path),
        env=env,
        encoding="utf-8",
        timeout=60,
    )
    try:
        child.expect(r"Project name \(svc\)")
        child.sendline("../escape")
        child.expect("is a path")
        child.expect(r"Project name \(svc\)")
        child.sendline("fraud-scorer")
        child.expect("Model runtime")
        child.sendline("sklearn")
        child.expect(r"Serve on a GPU\?")
        child.sendline("n")
        child.expect("p99 latency budget in ms")
        child.sendline("30")
        child.expect("make serve")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    record = yaml.safe_load((tmp_path / "svc" / "mlship.yaml").read_text())
    assert record["project"]["name"] == "fraud-scorer"
    assert record["project"]["model_format"] == "sklearn"
    assert record["budget"]["p99_ms"] == 30.0


def test_recommend_save_then_new_from_gives_the_recommended_project(tmp_path: Path) -> None:
    """The two commands together, as the README chains them."""
    env = {**os.environ, "NO_COLOR": "1"}
    saved = subprocess.run(
        [sys.executable, "-m", "mlship", "recommend", "--arrival", "requests", "--p99-ms", "30",
         "--peak-rps", "250", "--accelerator", "gpu", "--save-to", "decision.yaml"],
        capture_output=True, text=True, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, timeout=120,
    )  # fmt: skip
    assert saved.returncode == 0, saved.stderr
    recommended = yaml.safe_load((tmp_path / "decision.yaml").read_text())
    assert recommended["pattern"] == "online", "these answers describe an online service"
    done = mlship("--from", "decision.yaml", "svc", "--json", "--no-git", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["gpu"] is bool(recommended["stack"].get("gpu"))
    assert result["model_format"] == recommended["stack"]["model_format"]
    written = yaml.safe_load((tmp_path / "svc" / "mlship.yaml").read_text())
    assert written["budget"]["p99_ms"] == 30.0 and written["budget"]["min_rps"] == 250.0
    assert (
        written["reasons"] == recommended["reasons"]
        and written["answers"] == recommended["answers"]
    )
