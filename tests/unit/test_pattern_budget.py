"""A new project's p99 budget: flags, then the decision record, then the pattern's default."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlship.errors import InputError
from mlship.knowledge.budget import BudgetFlags, resolve_budget
from mlship.knowledge.patterns import load_named_pattern, load_patterns
from mlship.knowledge.sizing import load_sizing
from mlship.new.plan import plan_project
from mlship.new.project import new_project
from mlship.new.spec import ProjectSpec


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [("online", 100.0), ("streaming", 1000.0), ("chained", 250.0), ("edge", 50.0)],
)
def test_each_pattern_starts_from_its_own_default_budget(
    tmp_path: Path, pattern: str, expected: float
) -> None:
    plan = plan_project(ProjectSpec(pattern=pattern), tmp_path / "p")
    assert plan.record.budget.p99_ms == expected
    assert plan.data.p99_ms == expected


def test_a_flag_wins_over_the_pattern_default(tmp_path: Path) -> None:
    plan = plan_project(ProjectSpec(pattern="streaming", p99_ms=40), tmp_path / "p")
    assert plan.record.budget.p99_ms == 40


def test_a_pattern_without_a_default_falls_back_to_the_global_one() -> None:
    online = next(p for p in load_patterns() if p.name == "online")
    bare = online.model_copy(update={"default_p99_ms": None})
    resolved = resolve_budget(BudgetFlags(), None, pattern=bare)
    assert resolved.budget.p99_ms == load_sizing().budget.p99_ms == 100
    assert resolved.source["p99_ms"] == "default"


@pytest.mark.parametrize("pattern", ["online", "batch", "streaming", "edge", "chained"])
def test_a_fresh_project_records_exactly_its_patterns_budget(tmp_path: Path, pattern: str) -> None:
    """mlship.yaml and the copier answers carry the criteria the pattern's budget has, and
    every one it must declare; a batch job has no p99 anywhere (nobody waits on one row)."""
    knowledge = load_named_pattern(pattern)
    project = tmp_path / pattern
    new_project(ProjectSpec(pattern=pattern, git=False), project)
    budget = yaml.safe_load((project / "mlship.yaml").read_text())["budget"]
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())

    assert set(budget) <= set(knowledge.spike.criteria)
    assert all(budget.get(name) is not None for name in knowledge.spike.declared)
    has_p99 = "p99_ms" in knowledge.spike.criteria
    assert ("p99_ms" in budget) == has_p99 == (answers["p99_ms"] is not None)
    if pattern == "batch":
        assert "p99" not in (project / "mlship.yaml").read_text()


def test_a_budget_flag_the_pattern_does_not_have_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="p99_ms: a batch project's budget has no p99_ms"):
        plan_project(ProjectSpec(pattern="batch", p99_ms=50), tmp_path / "p")
    with pytest.raises(InputError, match="min_rps: an edge project's budget has no min_rps"):
        plan_project(ProjectSpec(pattern="edge", min_rps=5), tmp_path / "p")


def test_a_chained_project_refuses_a_user_model_instead_of_ignoring_it(tmp_path: Path) -> None:
    from mlship.errors import InputError

    model = tmp_path / "m.onnx"
    model.write_bytes(b"not read: refused before")
    with pytest.raises(InputError, match="--model does not apply"):
        plan_project(ProjectSpec(pattern="chained", model=model), tmp_path / "p")


def test_a_chained_project_refuses_gpu(tmp_path: Path) -> None:
    from mlship.errors import InputError

    with pytest.raises(InputError, match="no GPU variant"):
        plan_project(ProjectSpec(pattern="chained", gpu=True), tmp_path / "p")
