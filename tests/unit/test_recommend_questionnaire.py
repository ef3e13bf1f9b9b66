"""The questionnaire's parsing and branching, without a terminal (the pty test drives it live)."""

from __future__ import annotations

import pytest

from mlship.cli._questionnaire import Invalid, _choices, parse_answer
from mlship.knowledge.conditions import dict_lookup
from mlship.knowledge.fields import answer_fields
from mlship.knowledge.questions import load_questions

F = answer_fields()


def test_every_answer_is_asked_exactly_once() -> None:
    assert sorted(q.field for q in load_questions()) == sorted(F)
    assert load_questions()[0].field == "traffic.arrival"


@pytest.mark.parametrize(
    ("path", "text", "expected"),
    [
        ("traffic.arrival", "Requests", "requests"),
        ("traffic.pattern", "", "steady"),
        ("latency.freshness", "", None),
        ("latency.p99_ms", "none", None),
        ("latency.p99_ms", "12.5", 12.5),
        ("model.stages", "3", 3),
        ("data.audit_trail", "yes", True),
        ("team.kubernetes", "N", False),
        ("hardware.offline", "", False),
    ],
)
def test_valid_answers_parse(path: str, text: str, expected: object) -> None:
    spec = F[path]
    assert parse_answer(spec, text, spec.choices, spec.default) == expected


@pytest.mark.parametrize(
    ("path", "text", "message"),
    [
        ("traffic.arrival", "", "an answer is required"),
        ("traffic.arrival", "pigeons", "'pigeons' is not allowed (allowed: requests"),
        ("latency.p99_ms", "-3", "not a number greater than 0"),
        ("latency.p99_ms", "nan", "not a number greater than 0"),
        ("latency.p99_ms", "fast", "not a number greater than 0"),
        ("model.stages", "1.5", "not a whole number from 1"),
        ("model.stages", "0", "not a whole number from 1"),
        ("data.audit_trail", "maybe", "not yes or no"),
        ("model.stages", "none", "not a whole number"),
    ],
)
def test_invalid_answers_say_what_is_allowed(path: str, text: str, message: str) -> None:
    spec = F[path]
    with pytest.raises(Invalid, match=message.replace("(", r"\(")):
        parse_answer(spec, text, spec.choices, spec.default)


def test_target_choices_leave_out_server_when_data_stays_on_the_device() -> None:
    spec = F["hardware.target"]
    assert _choices(spec, {"traffic": {"arrival": "requests"}}) == (spec.choices, "server")
    for data in (
        {"traffic": {"arrival": "on-device"}},
        {"traffic": {"arrival": "requests"}, "data": {"must_stay_on_device": True}},
    ):
        choices, default = _choices(spec, data)
        assert "server" not in choices and default == "mobile"


def test_branch_questions_follow_earlier_answers() -> None:
    branches = {q.field: q.ask_when for q in load_questions() if q.ask_when is not None}
    gpu = branches["hardware.gpu_memory_gb"]
    assert gpu is not None and gpu.holds(dict_lookup({"hardware": {"accelerator": "gpu"}}))
    assert not gpu.holds(dict_lookup({}))
    device = branches["hardware.device_memory_mb"]
    assert device is not None and not device.holds(dict_lookup({}))
    assert device.holds(dict_lookup({"hardware": {"target": "embedded"}}))
