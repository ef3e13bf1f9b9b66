"""The parsers under ``mlship check`` and the promises around it (docs, hook, rule table)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlship.lifecycle.check import dockerfile
from mlship.lifecycle.check.metric_defs import exported_series
from mlship.lifecycle.check.promql import metric_names
from mlship.lifecycle.check.registry import CHECKS
from mlship.lifecycle.check.rules import load_rules

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("expression", "names"),
    [
        (
            'sum(rate(http_requests_total{route=~"/v1/.+", status=~"5.."}[5m])) > 0.001',
            ["http_requests_total"],
        ),
        (
            "histogram_quantile(0.99, sum by (le, route) (rate(x_seconds_bucket[$__rate_interval])))",
            ["x_seconds_bucket"],
        ),
        (
            "time() - max(batch_job_last_success_timestamp_seconds) > 26 * 3600",
            ["batch_job_last_success_timestamp_seconds"],
        ),
        ("a_total / on (job) group_left b_info offset 5m unless c", ["a_total", "b_info", "c"]),
        ('up{job="svc"} == 0 and model_ready == 0', ["up", "model_ready"]),
        ("rate(x_total[5m] @ end())", ["x_total"]),
    ],
)
def test_promql_metric_names(expression: str, names: list[str]) -> None:
    assert metric_names(expression) == names


def test_metric_definitions_by_type() -> None:
    source = """
from prometheus_client import Counter, Gauge, Histogram
LAST = "job_last_success_seconds"
REQUESTS = Counter("http_requests_total", "doc", ["route"])
ERRORS = Counter("errors", "doc", namespace="app")
LATENCY = Histogram("latency_seconds", "doc")
Gauge(LAST, "doc")
custom = ArrayHistogram("e2e_seconds", "doc", [0.1], registry)
pydantic_model = Histogram(edges=[0.0, 1.0], counts=[1.0])
"""
    series = exported_series(source)
    assert {"http_requests_total", "app_errors_total", "job_last_success_seconds"} <= set(series)
    assert {
        "latency_seconds_bucket",
        "latency_seconds_sum",
        "latency_seconds_count",
        "e2e_seconds_bucket",
    } <= set(series)
    assert "latency_seconds" not in series and "http_requests" not in series
    assert series["job_last_success_seconds"] == 7


def test_dockerfile_stages_continuations_and_args() -> None:
    text = "# syntax=docker/dockerfile:1\nARG PY=3.11\nFROM python:${PY}-slim AS build\nRUN a \\\n    && b\nFROM build\nUSER app\n"
    stages, args = dockerfile.stages(text)
    assert [(s.image, s.name, s.start.line) for s in stages] == [
        ("python:${PY}-slim", "build", 3),
        ("build", None, 6),
    ]
    assert stages[0].body[0].args == "a && b" and stages[0].body[0].line == 4
    assert dockerfile.expand(stages[0].image, args) == "python:3.11-slim"
    assert dockerfile.expand("python:${MISSING}", args) is None


def test_every_rule_is_documented_and_every_check_is_used() -> None:
    rules = load_rules(None, CHECKS)
    doc = (ROOT / "docs" / "check.md").read_text()
    assert [r.id for r in rules if f"`{r.id}`" not in doc] == []
    generic = {"file_exists", "file_matches", "file_lacks"}
    assert {r.check for r in rules} | generic == set(CHECKS)
    assert all(f"`{name}`" in doc for name in generic)


def test_the_pre_commit_hook_runs_mlship_check() -> None:
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "mlship-check" and hook["entry"] == "mlship check"
    assert hook["language"] == "python" and hook["pass_filenames"] is False
