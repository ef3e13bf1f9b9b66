"""Table-driven scenarios: every example answers file and a few more situations give the
pattern and stack a practitioner would expect."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlship.contracts import Answers, Recommendation
from mlship.knowledge.patterns import load_patterns
from mlship.recommend.answers import load_answers
from mlship.recommend.engine import recommend

ROOT = Path(__file__).resolve().parents[2]
PATTERNS = load_patterns()

EXAMPLES = {
    "checkout-fraud.yaml": ("online", "fastapi"),
    "nightly-churn.yaml": ("batch", "batch-job"),
    "keyboard-next-word.yaml": ("edge", "on-device"),
    "clickstream-scoring.yaml": ("streaming", "kafka-consumer"),
    "support-intent-entities.yaml": ("chained", "fastapi"),
    "gpu-search-ranking.yaml": ("online", "kserve"),
    "air-gapped-inspection.json": ("online", "fastapi"),
}


def test_every_example_file_is_in_the_table() -> None:
    assert sorted(p.name for p in (ROOT / "examples").iterdir()) == sorted(EXAMPLES)


@pytest.mark.parametrize(("name", "expected"), EXAMPLES.items(), ids=list(EXAMPLES))
def test_example_gives_the_expected_pattern(name: str, expected: tuple[str, str]) -> None:
    result = recommend(load_answers(ROOT / "examples" / name), PATTERNS)
    pattern, serving = expected
    assert result.pattern == pattern
    assert result.stack["serving"] == serving
    assert result.ranking[0].score >= 0.75, "an example should be a clear case"
    assert result.next.startswith(f"mlship new {pattern} ")


def rec(data: dict[str, Any]) -> Recommendation:
    return recommend(Answers.model_validate(data), PATTERNS)


SCENARIOS = [
    # (id, answers, expected pattern)
    ("api-minimal", {"traffic": {"arrival": "requests"}}, "online"),
    ("events-minimal", {"traffic": {"arrival": "events"}}, "streaming"),
    ("datasets-minimal", {"traffic": {"arrival": "datasets"}}, "batch"),
    (
        "on-device-minimal",
        {"traffic": {"arrival": "on-device"}, "hardware": {"target": "mobile"}},
        "edge",
    ),
    (
        "requests-but-daily-freshness",
        {"traffic": {"arrival": "requests"}, "latency": {"freshness": "days"}},
        "batch",
    ),
    (
        "mobile-app-calling-an-api-with-a-big-model",
        {
            "traffic": {"arrival": "requests"},
            "latency": {"p99_ms": 300.0},
            "hardware": {"target": "mobile"},
            "model": {"size_mb": 900.0},
        },
        "online",
    ),
    (
        "three-stage-document-pipeline-on-requests",
        {"traffic": {"arrival": "requests"}, "model": {"stages": 3}},
        "chained",
    ),
    (
        "sensor-events-minutes",
        {
            "traffic": {"arrival": "events", "peak_rps": 20000.0},
            "latency": {"freshness": "minutes"},
        },
        "streaming",
    ),
    (
        "regulated-offline-browser",
        {
            "traffic": {"arrival": "on-device"},
            "data": {"sensitivity": "regulated"},
            "hardware": {"target": "browser", "offline": True},
        },
        "edge",
    ),
]


@pytest.mark.parametrize(
    ("answers", "expected"), [s[1:] for s in SCENARIOS], ids=[s[0] for s in SCENARIOS]
)
def test_scenario(answers: dict[str, Any], expected: str) -> None:
    assert rec(answers).pattern == expected


# Stack suggestions ----------------------------------------------------------------------

ONLINE = {"traffic": {"arrival": "requests", "peak_rps": 500.0}, "latency": {"p99_ms": 100.0}}


def test_small_team_gets_fastapi_and_is_told_why() -> None:
    stack = rec(ONLINE).stack
    assert stack["serving"] == "fastapi"
    assert "team.ops_capacity is 'small'" in str(stack["serving_why"])


def test_platform_team_on_kubernetes_gets_kserve() -> None:
    stack = rec({**ONLINE, "team": {"ops_capacity": "platform", "kubernetes": True}}).stack
    assert stack["serving"] == "kserve" and stack["scale_out"] == "KServe"
    assert "team.kubernetes is true" in str(stack["serving_why"])


def test_gpu_at_a_high_rate_gets_triton_for_dynamic_batching() -> None:
    data = {
        **ONLINE,
        "hardware": {"accelerator": "gpu", "gpu_memory_gb": 24.0},
        "model": {"framework": "onnx", "size_mb": 400.0},
    }
    stack = rec(data).stack
    assert stack["serving"] == "triton" and "dynamic batching" in str(stack["serving_why"])
    assert stack["accelerator"] == "gpu" and stack["gpu"] is True
    assert stack["batch_size"] == 32 and stack["runtime"] == "onnxruntime"


def test_pytorch_on_gpu_with_a_platform_team_without_kubernetes_gets_torchserve() -> None:
    data = {
        "traffic": {"arrival": "requests", "peak_rps": 20.0},
        "hardware": {"accelerator": "gpu"},
        "model": {"framework": "pytorch"},
        "team": {"ops_capacity": "platform"},
    }
    stack = rec(data).stack
    assert stack["serving"] == "torchserve"
    assert stack["runtime"] == "torch" and stack["model_format"] == "torch"


def test_many_stages_on_gpu_get_a_triton_ensemble() -> None:
    data = {
        "traffic": {"arrival": "requests"},
        "hardware": {"accelerator": "gpu"},
        "model": {"framework": "pytorch", "stages": 3},
    }
    result = rec(data)
    assert result.pattern == "chained" and result.stack["serving"] == "triton"
    assert "model.stages is 3" in str(result.stack["serving_why"])


@pytest.mark.parametrize(
    ("framework", "accelerator", "runtime", "model_format"),
    [
        ("sklearn", "none", "onnxruntime", "onnx"),
        ("onnx", "none", "onnxruntime", "onnx"),
        ("pytorch", "none", "onnxruntime", "onnx"),
        ("pytorch", "gpu", "torch", "torch"),
        ("tensorflow", "none", "onnxruntime", "onnx"),
        ("other", "gpu", "onnxruntime", "onnx"),
    ],
)
def test_runtime_follows_framework_and_hardware(
    framework: str, accelerator: str, runtime: str, model_format: str
) -> None:
    data = {
        "traffic": {"arrival": "requests"},
        "hardware": {"accelerator": accelerator},
        "model": {"framework": framework},
    }
    stack = rec(data).stack
    assert (stack["runtime"], stack["model_format"]) == (runtime, model_format)
    assert f"model.framework is '{framework}'" in str(stack["runtime_why"])


def test_batch_scales_out_with_ray_data_in_large_chunks() -> None:
    stack = rec({"traffic": {"arrival": "datasets"}}).stack
    assert stack["scale_out"] == "Ray Data" and stack["batch_size"] == 1024
    assert stack["replicas"] is None


def test_next_command_carries_budget_format_and_gpu() -> None:
    data = {
        "traffic": {"arrival": "requests"},
        "latency": {"p99_ms": 75.0},
        "hardware": {"accelerator": "gpu"},
        "model": {"framework": "pytorch"},
    }
    assert rec(data).next == (
        "mlship new online ./my-online-project --p99-ms 75 --model-format torch --gpu"
    )
