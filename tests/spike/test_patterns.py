"""Every pattern's spike, before it runs: the right budget, and bad input refused cleanly.

A project's record names its pattern; the knowledge base says what that pattern's budget
is about. Input that does not fit the pattern is refused with exit 2, naming the flag,
before anything is started or written (no ``spikes/`` folder).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlship.contracts import Answers, Budget, DecisionRecord
from mlship.knowledge.budget import BudgetFlags, resolve_budget
from mlship.knowledge.patterns import load_named_pattern
from mlship.spike import verdict
from tests.spike.helpers import spike_cli

EXIT_BAD_INPUT = 2


def make_pattern_project(
    folder: Path, pattern: str, budget: dict[str, float] | None = None, manifest: bool = True
) -> Path:
    """A project as spike sees one before running it: Makefile, record, (manifest)."""
    folder.mkdir(parents=True)
    (folder / "Makefile").write_text("run:\n\t@echo never run by these tests; exit 9\n")
    (folder / "src" / "demo_pkg").mkdir(parents=True)
    (folder / "src" / "demo_pkg" / "__init__.py").write_text("")
    record = {"mlship_version": "0.1.0", "pattern": pattern, "budget": budget or {}}
    (folder / "mlship.yaml").write_text(yaml.safe_dump(record))
    if manifest:
        (folder / "models").mkdir()
        (folder / "models" / "manifest.json").write_text(
            '{"input": {"shape": [null, 4], "dtype": "float32"}}'
        )
    return folder


@pytest.mark.parametrize(
    ("pattern", "criteria"),
    [
        ("online", ["p99_ms", "max_error_rate", "min_rps"]),
        ("chained", ["p99_ms", "max_error_rate", "min_rps"]),
        ("batch", ["min_rps", "max_memory_mb", "max_error_rate"]),
        ("streaming", ["p99_ms", "min_rps", "max_lag", "max_error_rate"]),
        ("edge", ["p99_ms", "max_model_mb", "max_memory_mb"]),
    ],
)
def test_each_pattern_is_judged_on_its_own_criteria(pattern: str, criteria: list[str]) -> None:
    assert load_named_pattern(pattern).spike.criteria == criteria


def test_batch_budget_needs_the_rate_of_a_run_within_its_window() -> None:
    batch = load_named_pattern("batch")
    answers = Answers.model_validate({"traffic": {"arrival": "datasets"}})
    # without rows per run and a window there is no throughput floor for a job
    record = DecisionRecord(mlship_version="0.1.0", pattern="batch", answers=answers)
    used = verdict.resolve_budget(record, verdict.BudgetFlags(), batch)
    assert used.min_rps is None and used.unit == "rows/s"
    assert used.max_memory_mb == 4096 and used.source["max_memory_mb"] == "default"
    assert used.p99_ms is None  # a batch job's budget is not about a per-row latency
    # a flag wins over the pattern's default, criterion by criterion
    flagged = verdict.resolve_budget(record, verdict.BudgetFlags(min_rps=5000.0), batch)
    assert (flagged.min_rps, flagged.source["min_rps"]) == (5000.0, "flag")


def test_edge_budget_comes_from_the_device_in_the_answers() -> None:
    edge = load_named_pattern("edge")
    answers = Answers.model_validate(
        {
            "traffic": {"arrival": "on-device"},
            "hardware": {"target": "mobile", "device_memory_mb": 512},
        }
    )
    record = DecisionRecord(mlship_version="0.1.0", pattern="edge", answers=answers)
    used = resolve_budget(BudgetFlags(), record, pattern=edge, criteria=("max_memory_mb",))
    assert used.budget.max_memory_mb == 256  # the model's share of the device's memory
    assert used.source["max_memory_mb"] == "mlship.yaml answers"
    size = resolve_budget(BudgetFlags(), record, pattern=edge, criteria=("max_model_mb",))
    assert size.budget.max_model_mb == 100  # a comfortable download for a phone


def test_a_record_keeps_only_the_criteria_its_pattern_has() -> None:
    text = yaml.safe_dump(Budget(p99_ms=50.0, max_lag=0).model_dump(mode="json"))
    assert "max_lag: 0" in text and "max_memory_mb" not in text and "min_rps: null" in text


@pytest.mark.parametrize(
    ("pattern", "args", "expected"),
    [
        ("batch", ["--users", "5"], "--users: not for a batch project"),
        ("batch", ["--rate", "5"], "--rate: not for a batch project"),
        ("batch", ["--p99-ms", "50"], "--p99-ms: a batch project's budget has no p99_ms"),
        ("batch", ["--max-lag", "3"], "--max-lag: a batch project's budget has no max_lag"),
        ("batch", ["--input-rows", "0"], "--input-rows: 0 must be between 1 and"),
        ("batch", ["--invalid-share", "1.5"], "--invalid-share: 1.5 must be at least 0"),
        ("batch", ["--timeout", "0s"], "--timeout: '0s' must be longer than zero"),
        ("batch", ["--payloads", "/nonexistent/input"], "--payloads: /nonexistent/input does"),
        ("batch", ["--max-memory-mb", "-1"], "--max-memory-mb: -1.0 must be a positive"),
        ("streaming", ["--users", "3"], "--users: not for a streaming project"),
        ("streaming", ["--invalid-share", "0.1"], "--invalid-share: not for a streaming"),
        ("streaming", ["--bootstrap", "nohost"], "--bootstrap: 'nohost' is not host:port"),
        ("streaming", ["--max-lag", "-1"], "--max-lag: -1 must be 0 or more"),
        ("streaming", ["--max-memory-mb", "5"], "a streaming project's budget has no"),
        ("streaming", ["--rate", "5", "--users", "2"], "--users: not for a streaming"),
        ("edge", ["--rate", "5"], "--rate: not for an edge project"),
        ("edge", ["--device-factor", "0"], "--device-factor: 0.0 must be a positive"),
        ("edge", ["--min-rps", "10"], "--min-rps: an edge project's budget has no min_rps"),
        ("online", ["--input-rows", "10"], "--input-rows: not for an online project"),
        ("online", ["--bootstrap", "127.0.0.1:9092"], "--bootstrap: not for an online"),
        ("online", ["--max-lag", "1"], "--max-lag: an online project's budget has no max_lag"),
    ],
)
def test_flags_that_do_not_fit_the_pattern_exit_2_and_leave_nothing(
    tmp_path: Path, pattern: str, args: list[str], expected: str
) -> None:
    project = make_pattern_project(tmp_path / "p", pattern)
    run = spike_cli(str(project), *args)
    assert run.code == EXIT_BAD_INPUT, run.stdout + run.stderr
    assert expected in run.stderr
    assert "Traceback" not in run.stderr
    assert not (project / "spikes").exists()


@pytest.mark.parametrize("pattern", ["batch", "streaming", "online"])
def test_a_project_without_a_model_is_told_to_build_one(tmp_path: Path, pattern: str) -> None:
    project = make_pattern_project(tmp_path / "p", pattern, manifest=False)
    run = spike_cli(str(project))
    assert run.code == EXIT_BAD_INPUT, run.stdout + run.stderr
    assert "make model" in run.stderr
    assert not (project / "spikes").exists()


def test_out_naming_a_file_is_bad_input(tmp_path: Path) -> None:
    project = make_pattern_project(tmp_path / "p", "batch")
    taken = tmp_path / "a-file"
    taken.write_text("not a folder\n")
    run = spike_cli(str(project), "--out", str(taken))
    assert run.code == EXIT_BAD_INPUT
    assert f"--out: {taken} is a file" in run.stderr
    assert taken.read_text() == "not a folder\n"
    assert not (project / "spikes").exists()


def test_a_record_naming_an_unknown_pattern_is_bad_input(tmp_path: Path) -> None:
    project = make_pattern_project(tmp_path / "p", "quantum")
    run = spike_cli(str(project))
    assert run.code == EXIT_BAD_INPUT
    assert "pattern: 'quantum' is not in the knowledge base" in run.stderr
    assert not (project / "spikes").exists()
