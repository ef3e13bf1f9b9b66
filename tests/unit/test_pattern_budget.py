"""A new project's p99 budget: flags, then the decision record, then the pattern's default."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlship.knowledge.patterns import load_patterns
from mlship.knowledge.sizing import load_sizing
from mlship.new.plan import plan_project
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


def test_a_pattern_without_a_default_falls_back_to_the_global_one(tmp_path: Path) -> None:
    batch = next(p for p in load_patterns() if p.name == "batch")
    assert batch.default_p99_ms is None
    plan = plan_project(ProjectSpec(pattern="batch"), tmp_path / "p")
    assert plan.record.budget.p99_ms == load_sizing().budget.p99_ms == 100


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
