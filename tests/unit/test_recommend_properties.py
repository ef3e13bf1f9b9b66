"""Properties of the engine over any valid answers (hypothesis)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from mlship.contracts import Answers
from mlship.knowledge.fields import FieldSpec, answer_fields
from mlship.knowledge.patterns import load_patterns
from mlship.recommend.engine import recommend
from tests.builtin import BUILTIN_PATTERNS

PATTERNS = load_patterns()


def _values(spec: FieldSpec) -> st.SearchStrategy[Any]:
    if spec.kind == "choice":
        base: st.SearchStrategy[Any] = st.sampled_from(spec.choices)
    elif spec.kind == "bool":
        base = st.booleans()
    elif spec.kind == "integer":
        base = st.integers(min_value=1, max_value=12)
    else:
        top = min(1e6, spec.maximum or 1e6)
        base = st.floats(min_value=0.001, max_value=top, allow_nan=False, allow_infinity=False)
    return st.one_of(st.none(), base) if spec.optional else base


@st.composite
def answers(draw: st.DrawFn) -> Answers:
    """Any subset of the answers, each drawn from its allowed values."""
    data: dict[str, dict[str, Any]] = {}
    for path, spec in answer_fields().items():
        if spec.required or draw(st.booleans()):
            section, name = path.split(".")
            data.setdefault(section, {})[name] = draw(_values(spec))
    try:
        return Answers.model_validate(data)
    except ValidationError:
        assume(False)  # contradictory combinations are refused by Answers itself
        raise


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(answers())
def test_any_valid_answers_rank_all_five_deterministically(a: Answers) -> None:
    result = recommend(a, PATTERNS)
    assert sorted(r.pattern for r in result.ranking) == sorted(BUILTIN_PATTERNS)
    assert all(0.0 <= r.score <= 1.0 for r in result.ranking)
    assert result.ranking[0].pattern == result.pattern
    if not result.feasible:  # every pattern is out: say so, name the closest and what to relax
        assert len(result.excluded) == len(BUILTIN_PATTERNS) and result.relax
        assert result.warnings[0].startswith("no pattern is feasible")
        assert all(r.score == 0 for r in result.ranking)
        assert recommend(a, PATTERNS) == result
        return
    assert result.pattern not in {e.pattern for e in result.excluded}
    winner = result.ranking[0]
    assert winner.reasons and all(reason.strip() for reason in winner.reasons)
    scores = [
        r.score for r in result.ranking if r.pattern not in {e.pattern for e in result.excluded}
    ]
    assert scores == sorted(scores, reverse=True)
    assert recommend(a, PATTERNS) == result  # deterministic
    assert result.next.startswith(f"mlship new {result.pattern} ")
    assert not any("{" in text for r in result.ranking for text in r.reasons)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(answers())
def test_warnings_never_contradict_the_answers_or_each_other(a: Answers) -> None:
    result = recommend(a, PATTERNS)
    text = " ".join(result.warnings)
    if a.data.must_stay_on_device:
        assert "on a server" not in text and "run it on a server" not in text
    if a.data.audit_trail:
        assert "log no raw inputs" not in text
    if not a.team.kubernetes:
        for key in ("packaging", "scale_out", "scale_out_how"):
            assert "Kubernetes" not in str(result.stack[key]), key
        assert "KEDA" not in str(result.stack["scale_out_how"])
        assert result.stack["serving"] != "kserve"
    if result.feasible:
        excluded = {e.pattern for e in result.excluded}
        assert result.pattern not in excluded
        # the chosen pattern is never one a warning says cannot load the model
        assert "cannot be loaded" not in text
