"""Rule by rule: every soft rule of the knowledge base fires on answers made to match it,
and every hard constraint excludes what it says, with a reason that names the answer."""

from __future__ import annotations

from typing import Any

import pytest

from mlship.contracts import Answers
from mlship.knowledge.conditions import Condition
from mlship.knowledge.fields import answer_fields
from mlship.knowledge.patterns import Pattern, find_pattern, load_patterns
from mlship.recommend.engine import recommend, score_pattern

PATTERNS = load_patterns()


def _value_for(condition: Condition) -> Any:
    """A value of the answer that satisfies ``condition``."""
    spec = answer_fields()[condition.field]
    value = condition.value
    if condition.op == "eq":
        return value
    if condition.op == "ne":
        if spec.kind == "choice":
            return next(c for c in spec.choices if c != value)
        if spec.kind == "bool":
            return not value
        return value + 1  # type: ignore[operator]
    if condition.op == "in":
        return value[0]  # type: ignore[index]
    if condition.op == "not_in":
        return next(c for c in spec.choices if c not in value)  # type: ignore[operator]
    if condition.op in ("lte", "gte"):
        return value
    if condition.op == "lt":
        return value / 2  # type: ignore[operator]
    if condition.op == "gt":
        return value + 1  # type: ignore[operator]
    assert condition.op == "is_set"
    return 10.0


def answers_matching(pattern: Pattern, conditions: list[Condition]) -> Answers:
    """Minimal valid answers under which ``conditions`` hold and ``pattern`` is not excluded."""
    data: dict[str, dict[str, Any]] = {"traffic": {"arrival": "requests"}}
    for condition in conditions:
        section, name = condition.field.split(".")
        data.setdefault(section, {})[name] = _value_for(condition)
    hardware = data.setdefault("hardware", {})
    model = data.setdefault("model", {})
    on_device = data["traffic"]["arrival"] == "on-device" or data.get("data", {}).get(
        "must_stay_on_device"
    )
    if (on_device or pattern.name == "edge") and "target" not in hardware:
        hardware["target"] = "mobile"
    if "gpu_memory_gb" in hardware:
        hardware["accelerator"] = "gpu"
    if pattern.name == "chained" and "stages" not in model:
        model["stages"] = 2
    return Answers.model_validate(data)


RULES = [
    pytest.param(pattern, index, id=f"{pattern.name}-rule{index}")
    for pattern in PATTERNS
    for index in range(len(pattern.rules))
]


@pytest.mark.parametrize(("pattern", "index"), RULES)
def test_every_rule_fires_with_its_weight_and_reason(pattern: Pattern, index: int) -> None:
    rule = pattern.rules[index]
    answers = answers_matching(pattern, rule.when.all)
    scored = score_pattern(pattern, answers)
    assert not scored.excluded, scored.excluded
    fired = [r for r in scored.reasons if r.startswith(f"{rule.weight:+.2f} ")]
    assert fired, f"rule {index} of {pattern.name} did not fire: {scored.reasons}"
    assert any(field in reason for reason in fired for field in rule.when.fields())
    assert not any("{" in reason for reason in scored.reasons), "unfilled placeholder"


def test_score_is_base_plus_weights_clipped() -> None:
    online = find_pattern(PATTERNS, "online")
    answers = Answers.model_validate(
        {"traffic": {"arrival": "requests"}, "latency": {"p99_ms": 50}}
    )
    assert score_pattern(online, answers).score == pytest.approx(0.3 + 0.35 + 0.2)
    many = Answers.model_validate(
        {"traffic": {"arrival": "datasets"}, "latency": {"freshness": "days"}}
    )
    assert score_pattern(online, many).score == 0.0  # 0.3 - 0.3 - 0.25, clipped at 0


def test_reasons_quote_the_answers_behind_them() -> None:
    answers = Answers.model_validate(
        {"traffic": {"arrival": "requests"}, "latency": {"p99_ms": 42.0}}
    )
    reasons = score_pattern(find_pattern(PATTERNS, "online"), answers).reasons
    assert any(r.startswith("+0.20 latency.p99_ms is 42:") for r in reasons)


def test_a_pattern_no_rule_touches_says_so() -> None:
    answers = Answers.model_validate(
        {"traffic": {"arrival": "events"}, "hardware": {"target": "browser"}}
    )
    # batch: arrival events (-0.1) fires; edge: only its base score
    edge = score_pattern(find_pattern(PATTERNS, "edge"), answers)
    assert edge.score == 0.25
    assert edge.reasons == ["no answer spoke for or against it; it keeps its base score 0.25"]


# Hard constraints -----------------------------------------------------------------------


def _excluded(answers: dict[str, Any]) -> dict[str, str]:
    result = recommend(Answers.model_validate(answers), PATTERNS)
    return {e.pattern: e.why for e in result.excluded}


def test_data_that_must_stay_on_the_device_leaves_only_edge() -> None:
    excluded = _excluded(
        {
            "traffic": {"arrival": "requests"},
            "data": {"must_stay_on_device": True},
            "hardware": {"target": "mobile"},
        }
    )
    assert set(excluded) == {"online", "batch", "streaming", "chained"}
    assert all("data.must_stay_on_device is true" in why for why in excluded.values())


def test_offline_device_rules_out_every_server_side_pattern() -> None:
    excluded = _excluded(
        {"traffic": {"arrival": "on-device"}, "hardware": {"target": "embedded", "offline": True}}
    )
    assert set(excluded) == {"online", "batch", "streaming", "chained"}
    assert "hardware.target is 'embedded' and hardware.offline is true" in excluded["online"]


def test_an_air_gapped_server_is_no_reason_for_edge() -> None:
    answers = {
        "traffic": {"arrival": "requests"},
        "hardware": {"target": "server", "offline": True},
    }
    excluded = _excluded(answers)
    assert "online" not in excluded
    assert "edge" in excluded and "hardware.target is 'server'" in excluded["edge"]
    assert recommend(Answers.model_validate(answers), PATTERNS).pattern == "online"


def test_one_stage_excludes_chained_and_realtime_freshness_excludes_batch() -> None:
    excluded = _excluded({"traffic": {"arrival": "requests"}, "latency": {"freshness": "seconds"}})
    assert "model.stages is 1" in excluded["chained"]
    assert "latency.freshness is 'seconds'" in excluded["batch"]


def test_excluded_patterns_score_zero_and_rank_last() -> None:
    result = recommend(
        Answers.model_validate({"traffic": {"arrival": "events", "peak_rps": 10.0}}), PATTERNS
    )
    out = {e.pattern for e in result.excluded}
    ranked = [r.pattern for r in result.ranking]
    assert ranked[-len(out) :] == [p for p in ranked if p in out]
    for entry in result.ranking:
        if entry.pattern in out:
            assert entry.score == 0.0 and entry.reasons[0].startswith("excluded: ")
