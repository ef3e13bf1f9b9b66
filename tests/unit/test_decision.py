"""The decision record: built from a recommendation, written atomically, read back."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from mlship.contracts import Answers, DecisionRecord
from mlship.errors import InputError
from mlship.knowledge.patterns import load_patterns
from mlship.recommend.decision import build_decision_record
from mlship.recommend.engine import recommend
from mlship.record import (
    read_decision_record,
    write_decision_record,
)
from mlship.version import __version__


@pytest.fixture
def record() -> DecisionRecord:
    answers = Answers.model_validate(
        {"traffic": {"arrival": "requests", "peak_rps": 300}, "latency": {"p99_ms": 50}}
    )
    return build_decision_record(answers, recommend(answers, load_patterns()))


def test_record_holds_answers_ranking_winner_and_budget(record: DecisionRecord) -> None:
    assert record.pattern == "online" and record.mlship_version == __version__
    assert record.answers is not None and record.answers.traffic.arrival == "requests"
    assert record.ranking[0].pattern == "online" and len(record.ranking) == 5
    assert record.reasons == record.ranking[0].reasons
    assert (record.budget.p99_ms, record.budget.min_rps) == (50.0, 300.0)
    assert record.budget.max_error_rate == 0.001
    assert record.stack["serving"] == "fastapi"


def test_round_trip(tmp_path: Path, record: DecisionRecord) -> None:
    path = write_decision_record(record, tmp_path / "mlship.yaml")
    assert path.read_text().startswith("# mlship decision record")
    assert read_decision_record(path) == record


def test_write_replaces_atomically_and_leaves_no_temporary_file(
    tmp_path: Path, record: DecisionRecord
) -> None:
    path = tmp_path / "mlship.yaml"
    path.write_text("old")
    inode = path.stat().st_ino
    write_decision_record(record, path)
    assert read_decision_record(path) == record
    assert os.listdir(tmp_path) == ["mlship.yaml"]
    assert path.stat().st_ino != inode  # a new file renamed over the old one


def test_written_record_has_the_mode_of_a_plain_write(
    tmp_path: Path, record: DecisionRecord
) -> None:
    """Not mkstemp's 0600: a container image's non-root user must be able to read it."""
    old = os.umask(0o022)
    try:
        path = write_decision_record(record, tmp_path / "mlship.yaml")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


def test_write_refuses_a_missing_folder_or_a_directory(
    tmp_path: Path, record: DecisionRecord
) -> None:
    with pytest.raises(InputError, match="does not exist"):
        write_decision_record(record, tmp_path / "no" / "mlship.yaml")
    with pytest.raises(InputError, match="is a directory"):
        write_decision_record(record, tmp_path)
    assert os.listdir(tmp_path) == []


def test_reading_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist") as caught:
        read_decision_record(tmp_path / "mlship.yaml")
    assert caught.value.hint and "recommend --save" in caught.value.hint
    bad = tmp_path / "bad.yaml"
    bad.write_text("pattern: [online\n")
    with pytest.raises(InputError, match=rf"{re.escape(str(bad))}:\d+: not valid YAML"):
        read_decision_record(bad)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("mlship_version: '0.1.0'\npattern: online\nbudget: {p99_ms: -5}\n")
    with pytest.raises(InputError) as caught:
        read_decision_record(wrong)
    assert any(p.startswith("budget.p99_ms: ") for p in caught.value.problems)


def _project_record(tmp_path: Path, **flags: float) -> DecisionRecord:
    """The record `mlship new --from` writes into a project (budget resolved by new)."""
    from mlship.new.plan import plan_project
    from mlship.new.spec import ProjectSpec

    answers = Answers.model_validate({"traffic": {"arrival": "requests", "peak_rps": 300}})
    decision = build_decision_record(answers, recommend(answers, load_patterns()))
    spec = ProjectSpec(pattern="online", decision=decision, **flags)  # type: ignore[arg-type]
    return plan_project(spec, tmp_path / "svc").record


def _fresh(p99_ms: float) -> DecisionRecord:
    answers = Answers.model_validate(
        {"traffic": {"arrival": "requests", "peak_rps": 300}, "latency": {"p99_ms": p99_ms}}
    )
    return build_decision_record(answers, recommend(answers, load_patterns()))


DEFAULTS = {p.name: p for p in load_patterns()}


def test_merging_into_a_projects_record_takes_new_answers_where_nobody_edited(
    tmp_path: Path,
) -> None:
    from mlship.recommend.decision import merge_decision_records

    existing = _project_record(tmp_path)
    assert existing.budget.p99_ms == 100.0  # the online pattern's default, not an edit
    merged = merge_decision_records(existing, _fresh(40.0), tmp_path / "mlship.yaml", DEFAULTS)
    assert merged.record.budget.p99_ms == 40.0 and merged.kept == []
    assert merged.record.project == existing.project
    assert merged.record.template_version == existing.template_version


def test_merging_keeps_a_budget_set_by_flags_or_by_hand(tmp_path: Path) -> None:
    from mlship.recommend.decision import merge_decision_records

    existing = _project_record(tmp_path, p99_ms=80.0)  # mlship new --p99-ms 80
    merged = merge_decision_records(existing, _fresh(40.0), tmp_path / "mlship.yaml", DEFAULTS)
    assert merged.record.budget.p99_ms == 80.0
    assert merged.kept == ["budget.p99_ms 80 kept (edited by hand; the new answers give 40)"]
    edited = existing.model_copy(
        update={"budget": existing.budget.model_copy(update={"max_error_rate": 0.05})}
    )
    merged = merge_decision_records(edited, _fresh(40.0), tmp_path / "mlship.yaml", DEFAULTS)
    assert merged.record.budget.max_error_rate == 0.05


def test_merging_keeps_the_rest_of_a_projects_record(tmp_path: Path) -> None:
    from mlship.contracts import CheckPolicy, Waiver
    from mlship.recommend.decision import merge_decision_records

    existing = _project_record(tmp_path).model_copy(
        update={"check": CheckPolicy(waive=[Waiver(rule="container.non-root", reason="legacy")])}
    )
    merged = merge_decision_records(existing, _fresh(40.0), tmp_path / "mlship.yaml", DEFAULTS)
    assert merged.record.check == existing.check  # the team's waivers survive a new decision
    assert merged.record.template_version == existing.template_version
    assert merged.record.answers is not None and merged.record.answers.latency.p99_ms == 40.0
