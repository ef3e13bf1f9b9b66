"""Warning by warning: each appears when its numbers say so, names them, and stays away
when they do not."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from mlship.contracts import Answers, Recommendation
from mlship.knowledge.patterns import load_patterns
from mlship.knowledge.sizing import Sizing, load_sizing
from mlship.recommend.engine import recommend

PATTERNS = load_patterns()


def run(data: dict[str, Any]) -> Recommendation:
    return recommend(Answers.model_validate(data), PATTERNS)


def warned(data: dict[str, Any], *needles: str) -> str:
    """The one warning that contains every needle."""
    found = [w for w in run(data).warnings if all(n in w for n in needles)]
    assert len(found) == 1, run(data).warnings
    return found[0]


def not_warned(data: dict[str, Any], needle: str) -> None:
    assert not [w for w in run(data).warnings if needle in w], run(data).warnings


PHONE = {"traffic": {"arrival": "on-device"}, "hardware": {"target": "mobile"}}


def test_model_larger_than_device_memory_rules_edge_out() -> None:
    data = {**PHONE, "hardware": {"target": "mobile", "device_memory_mb": 1024.0}}
    data["model"] = {"size_mb": 3000.0}
    result = run(data)
    (edge,) = [e for e in result.excluded if e.pattern == "edge"]
    assert "model.size_mb 3000 MiB is larger than hardware.device_memory_mb 1024 MiB" in edge.why
    assert result.pattern == "online" and result.feasible
    # the exclusion says it; no warning repeats it or advises the device
    not_warned(data, "device_memory_mb")
    not_warned(data, "large for a mobile target")


def test_model_taking_most_of_the_device_memory() -> None:
    data = {
        **PHONE,
        "hardware": {"target": "mobile", "device_memory_mb": 100.0},
        "model": {"size_mb": 60.0},
    }
    assert "more than 50% of hardware.device_memory_mb 100 MiB" in warned(data, "50%")


def test_model_too_large_for_the_target() -> None:
    data = {"traffic": {"arrival": "on-device"}, "hardware": {"target": "browser"}}
    data["model"] = {"size_mb": 80.0}
    assert "about 30 MiB" in warned(data, "large for a browser target")
    data["model"] = {"size_mb": 20.0}
    not_warned(data, "large for a browser target")


def test_model_and_activations_larger_than_gpu_memory() -> None:
    data = {
        "traffic": {"arrival": "requests"},
        "hardware": {"accelerator": "gpu", "gpu_memory_gb": 16.0},
        "model": {"framework": "pytorch", "size_mb": 12000.0},
    }
    text = warned(data, "hardware.gpu_memory_gb 16 GiB")
    assert "about 18.6 GiB" in text  # 12000/1024 * 1.5 + 1
    data["hardware"] = {"accelerator": "gpu", "gpu_memory_gb": 40.0}
    not_warned(data, "gpu_memory_gb")


def test_budget_too_small_for_a_chain() -> None:
    data = {
        "traffic": {"arrival": "requests"},
        "latency": {"p99_ms": 5.0},
        "model": {"stages": 2, "size_mb": 20.0},
    }
    text = warned(data, "latency.p99_ms 5 is too small for a 2-stage chain")
    assert "about 9 ms" in text  # 2 x 2 ms + 0.2 ms/MiB x 20 + 1 ms hand-over


def test_budget_too_small_for_cpu_inference_of_a_large_model() -> None:
    data = {
        "traffic": {"arrival": "requests"},
        "latency": {"p99_ms": 50.0},
        "model": {"framework": "pytorch", "size_mb": 800.0},
    }
    text = warned(data, "too small for one prediction of a 800 MiB model on CPU")
    assert "about 162 ms" in text and "a GPU" in text
    data["hardware"] = {"accelerator": "gpu"}
    not_warned(data, "too small")


def test_peak_rate_beyond_one_replica_gives_a_replica_count() -> None:
    data = {"traffic": {"arrival": "requests", "peak_rps": 1000.0}, "model": {"size_mb": 10.0}}
    text = warned(data, "traffic.peak_rps 1000 needs more than one replica")
    assert "about 400 rps on CPU" in text and "about 4 replicas" in text  # 1300 / 400
    assert run(data).stack["replicas"] == 4
    data["traffic"] = {"arrival": "requests", "peak_rps": 100.0}
    not_warned(data, "replica")


def test_streaming_peak_gives_consumers_and_partitions() -> None:
    data = {"traffic": {"arrival": "events", "peak_rps": 5000.0}, "model": {"size_mb": 10.0}}
    assert "17 consumers (and at least as many partitions)" in warned(data, "consumers")


def test_sensitive_data_with_a_pattern_that_ships_it_elsewhere() -> None:
    data = {"traffic": {"arrival": "events"}, "data": {"sensitivity": "regulated"}}
    text = warned(data, "data.sensitivity is 'regulated'")
    assert "message broker" in text and "third party" in text
    data["data"] = {"sensitivity": "internal"}
    not_warned(data, "data.sensitivity")


def test_sensitive_data_kept_on_the_device_is_not_warned() -> None:
    data = {**PHONE, "data": {"sensitivity": "pii", "must_stay_on_device": True}}
    assert run(data).pattern == "edge"
    not_warned(data, "data.sensitivity")


def test_audit_trail_on_devices() -> None:
    data = {**PHONE, "data": {"audit_trail": True, "must_stay_on_device": True}}
    assert "data.audit_trail is true with edge" in warned(data, "audit_trail")


def test_gpu_with_scikit_learn_is_served_on_cpu() -> None:
    data = {"traffic": {"arrival": "requests"}, "hardware": {"accelerator": "gpu"}}
    warned(data, "scikit-learn models run on CPU")
    assert run(data).stack["accelerator"] == "cpu"


def test_air_gapped_server_gets_a_mirroring_reminder() -> None:
    data = {"traffic": {"arrival": "requests"}, "hardware": {"offline": True}}
    assert "mirror container images" in warned(data, "air-gapped")


def test_low_confidence_and_close_calls_are_said() -> None:
    vague = {"traffic": {"arrival": "events"}, "latency": {"p99_ms": 30.0}}
    # streaming 0.25 + 0.4 - 0.1 - 0.1 = 0.45, below the 0.5 confidence line
    assert "no pattern fits clearly: streaming leads with a score of 0.45" in warned(
        vague, "no pattern fits clearly"
    )
    close = {
        "traffic": {"arrival": "requests"},
        "latency": {"p99_ms": 15.0},
        "model": {"stages": 2},
    }
    # online 0.3 + 0.35 + 0.2 - 0.2 = 0.65; chained 0.2 + 0.5 + 0.15 - 0.1 = 0.75
    run_close = run(close)
    assert run_close.pattern == "chained"
    not_warned(close, "close call")
    closer = {**close, "latency": {"p99_ms": 15.0, "freshness": "realtime"}}
    # a tie goes to the pattern listed first in BUILTIN_PATTERNS (online before chained)
    assert "online (0.75) and chained (0.75)" in warned(closer, "close call")


def test_comfortable_answers_give_no_warnings() -> None:
    data = {
        "traffic": {"arrival": "requests", "peak_rps": 50.0},
        "latency": {"p99_ms": 100.0},
        "model": {"size_mb": 5.0},
    }
    assert run(data).warnings == []


def test_figures_come_from_the_sizing_table() -> None:
    """Changing a figure in sizing.yaml (here: passed in) changes the advice, not the code."""
    data = {"traffic": {"arrival": "requests", "peak_rps": 1000.0}, "model": {"size_mb": 10.0}}
    answers = Answers.model_validate(data)
    shipped = load_sizing()
    slower = shipped.model_copy(
        update={"throughput": shipped.throughput.model_copy(update={"cpu_replica_rps_cap": 100.0})}
    )
    assert recommend(answers, PATTERNS).stack["replicas"] == 4
    assert recommend(answers, PATTERNS, slower).stack["replicas"] == 13  # 1300 / 100
    broken = shipped.model_dump()
    broken["throughput"]["headroom"] = -1
    with pytest.raises(ValidationError, match=r"throughput\.headroom"):
        Sizing.model_validate(broken)
