"""Realistic situations, each with the pattern a practitioner expects and the numbers the
warnings and the stack must name; infeasible answers move the decision instead of
leaving a warning beside it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from mlship.contracts import Answers, Recommendation
from mlship.knowledge.budget import budget_from_answers
from mlship.knowledge.patterns import load_patterns
from mlship.recommend.engine import recommend

PATTERNS = load_patterns()


@dataclass(frozen=True)
class Situation:
    name: str
    answers: dict[str, Any]
    pattern: str
    warnings: list[str] = field(default_factory=list)  # each must appear in one warning
    excluded: dict[str, str] = field(default_factory=dict)  # pattern -> text of its why
    stack: dict[str, Any] = field(default_factory=dict)
    feasible: bool = True
    relax: list[str] = field(default_factory=list)  # each must appear in one relax line
    never: list[str] = field(default_factory=list)  # no warning may contain these


SITUATIONS = [
    Situation(
        "checkout fraud check at 3000 requests/s",
        {
            "traffic": {"arrival": "requests", "peak_rps": 3000.0},
            "latency": {"p99_ms": 50.0, "freshness": "realtime"},
            "data": {"sensitivity": "pii"},
        },
        "online",
        warnings=["traffic.peak_rps 3000", "about 400 rps on CPU", "about 10 replicas"],
        stack={"serving": "fastapi", "replicas": 10},
        never=["runner-up"],
    ),
    Situation(
        "phone app whose model is too big for the phone; data may leave it",
        {
            "traffic": {"arrival": "on-device"},
            "latency": {"p99_ms": 300.0},
            "hardware": {"target": "mobile", "device_memory_mb": 1024.0},
            "model": {"size_mb": 3000.0},
        },
        "online",
        excluded={
            "edge": "model.size_mb 3000 MiB is larger than hardware.device_memory_mb 1024 MiB"
        },
        never=["large for a mobile target", "device_memory_mb"],
    ),
    Situation(
        "keyboard whose text may not leave the phone, with a model the phone cannot hold",
        {
            "traffic": {"arrival": "on-device"},
            "data": {"must_stay_on_device": True, "sensitivity": "pii"},
            "hardware": {"target": "mobile", "device_memory_mb": 1024.0},
            "model": {"size_mb": 3000.0},
        },
        "edge",
        warnings=["no pattern is feasible", "edge is the closest"],
        excluded={"edge": "3000 MiB is larger than hardware.device_memory_mb 1024 MiB"},
        feasible=False,
        relax=["hardware.device_memory_mb or model.size_mb", "data.must_stay_on_device"],
        never=["run it on a server", "on a server"],
    ),
    Situation(
        "three-stage document pipeline fed by events",
        {
            "traffic": {"arrival": "events", "peak_rps": 500.0},
            "latency": {"freshness": "seconds"},
            "model": {"stages": 3, "size_mb": 20.0},
        },
        "streaming",
        warnings=[
            "model.stages is 3 and the streaming project serves one model",
            "about 12 ms per event",  # 3 x 2 ms + 0.2 ms/MiB x 20 MiB + 2 hand-overs of 1 ms
        ],
    ),
    Situation(
        "three-stage enrichment of a nightly dataset",
        {
            "traffic": {"arrival": "datasets"},
            "latency": {"freshness": "days"},
            "model": {"stages": 3},
        },
        "batch",
        warnings=["model.stages is 3 and the batch project serves one model", "per row"],
    ),
    Situation(
        "nightly scoring of two billion rows in an hour",
        {
            "traffic": {"arrival": "datasets", "rows_per_run": 2_000_000_000},
            "latency": {"freshness": "days", "window_minutes": 60.0},
        },
        "batch",
        warnings=[
            "traffic.rows_per_run 2,000,000,000 in latency.window_minutes 60",
            "about 555,556 rows/s",
            "about 76,190 rows/s",  # 16 cores x 1000 / (0.01 + 0.02 x 10 MiB) ms
            "about 10 machines",  # 555,556 x 1.3 / 76,190 = 9.5
        ],
        stack={"engine": "ray", "machines": 10, "scale_out": "Ray Data"},
    ),
    Situation(
        "weekly scoring of fifty million rows in four hours",
        {
            "traffic": {"arrival": "datasets", "rows_per_run": 50_000_000},
            "latency": {"freshness": "days", "window_minutes": 240.0},
        },
        "batch",
        stack={"engine": "local", "machines": 1, "rows_per_second_needed": 3472},
        never=["machines"],
    ),
    Situation(
        "regulated claims scored on request with an audit trail",
        {
            "traffic": {"arrival": "requests"},
            "latency": {"p99_ms": 200.0},
            "data": {"sensitivity": "regulated", "audit_trail": True},
        },
        "online",
        warnings=["keep raw inputs only in the access-controlled audit store"],
        never=["log no raw inputs"],
    ),
    Situation(
        "platform team without Kubernetes",
        {
            "traffic": {"arrival": "requests", "peak_rps": 200.0},
            "latency": {"p99_ms": 100.0},
            "team": {"ops_capacity": "platform", "kubernetes": False},
        },
        "online",
        stack={"serving": "fastapi", "scale_out": "replicas behind a load balancer"},
    ),
    Situation(
        "browser feature with a 10 ms budget",
        {
            "traffic": {"arrival": "requests"},
            "latency": {"p99_ms": 10.0},
            "hardware": {"target": "browser"},
            "model": {"size_mb": 2.0},
        },
        "edge",
        excluded={
            "online": "latency.p99_ms 10 is below a request from a browser device to a server "
            "and back (about 20 ms at best"
        },
    ),
    Situation(
        "service-to-service call with a 0.5 ms budget",
        {"traffic": {"arrival": "requests"}, "latency": {"p99_ms": 0.5}},
        "online",
        feasible=False,
        excluded={"online": "latency.p99_ms 0.5 is below a call from another service"},
        relax=["latency.p99_ms (brings back online", "hardware.target (brings back edge"],
    ),
    Situation(
        "health app whose data must stay on a phone with room for the model",
        {
            "traffic": {"arrival": "on-device"},
            "data": {"must_stay_on_device": True, "sensitivity": "regulated"},
            "hardware": {"target": "mobile", "device_memory_mb": 500.0},
            "model": {"size_mb": 400.0},
        },
        "edge",
        warnings=["model.size_mb 400 MiB takes more than 50% of hardware.device_memory_mb 500"],
        never=["server"],
    ),
    Situation(
        "mobile app calling an API with a model too large to ship",
        {
            "traffic": {"arrival": "requests"},
            "latency": {"p99_ms": 60.0},
            "hardware": {"target": "mobile"},
            "model": {"size_mb": 900.0},
        },
        "online",
        warnings=["plus about 20 ms for the round trip from the mobile device", "about 202 ms"],
    ),
]


def run(data: dict[str, Any]) -> Recommendation:
    return recommend(Answers.model_validate(data), PATTERNS)


@pytest.mark.parametrize("situation", SITUATIONS, ids=[s.name for s in SITUATIONS])
def test_situation(situation: Situation) -> None:
    result = run(situation.answers)
    assert (result.pattern, result.feasible) == (situation.pattern, situation.feasible)
    for needle in situation.warnings:
        assert any(needle in w for w in result.warnings), (needle, result.warnings)
    for needle in situation.never:
        assert not any(needle in w for w in result.warnings), (needle, result.warnings)
    why = {e.pattern: e.why for e in result.excluded}
    for pattern, text in situation.excluded.items():
        assert text in why.get(pattern, ""), (pattern, why)
    for key, value in situation.stack.items():
        assert result.stack.get(key) == value, (key, result.stack)
    for needle in situation.relax:
        assert any(needle in line for line in result.relax), (needle, result.relax)
    if situation.feasible:
        assert result.pattern not in why and not result.relax
        assert result.next.startswith(f"mlship new {situation.pattern} ")
    else:
        assert set(why) == {p.name for p in PATTERNS}
        assert result.warnings[0].startswith("no pattern is feasible")
        assert not result.next.startswith("mlship new")


def test_rows_per_run_over_the_window_is_the_batch_budget() -> None:
    answers = Answers.model_validate(
        {
            "traffic": {"arrival": "datasets", "rows_per_run": 50_000_000},
            "latency": {"window_minutes": 240.0},
        }
    )
    assert budget_from_answers(answers).min_rps == pytest.approx(3472.222, abs=1e-3)
    no_window = Answers.model_validate(
        {"traffic": {"arrival": "datasets", "rows_per_run": 50_000_000, "peak_rps": 10.0}}
    )
    assert budget_from_answers(no_window).min_rps == 10.0  # not derived from a guessed window


def test_the_assumed_window_is_said_to_be_assumed() -> None:
    result = run(
        {
            "traffic": {"arrival": "datasets", "rows_per_run": 5_000_000_000},
            "latency": {"freshness": "days"},
        }
    )
    (warning,) = [w for w in result.warnings if "rows_per_run" in w]
    assert "latency.window_minutes 60 (assumed; not given)" in warning


def test_kubernetes_packaging_only_for_a_team_that_runs_it() -> None:
    base = {"traffic": {"arrival": "requests"}, "latency": {"p99_ms": 100.0}}
    without = run({**base, "team": {"kubernetes": False}}).stack
    with_k8s = run({**base, "team": {"kubernetes": True}}).stack
    assert "Kubernetes" not in str(without["packaging"])
    assert "team.kubernetes is false" in str(without["packaging_why"])
    assert "Kubernetes" in str(with_k8s["packaging"])
    assert with_k8s["scale_out"] == "Kubernetes HPA"
    events = {"traffic": {"arrival": "events"}, "team": {"kubernetes": False}}
    assert "KEDA" not in str(run(events).stack["scale_out_how"])
