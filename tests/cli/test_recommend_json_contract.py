"""The JSON of ``mlship recommend --json`` is a public contract (design.md): pinned here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

TOP_KEYS = ["pattern", "ranking", "excluded", "warnings", "stack", "next", "feasible", "relax"]
STACK_KEYS = {
    "pattern", "serving", "serving_why", "runtime", "model_format", "runtime_why",
    "accelerator", "gpu", "accelerator_why", "batch_size", "replicas",
    "estimated_latency_ms", "estimated_replica_rps", "scale_out", "scale_out_how", "packaging", "packaging_why",
}  # fmt: skip


def test_recommend_json_contract_from_the_installed_entry_point(tmp_path: Path) -> None:
    answers = ROOT / "examples" / "checkout-fraud.yaml"
    result = subprocess.run(
        [sys.executable, "-m", "mlship", "recommend", "--answers", str(answers), "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1", "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)  # one JSON document, nothing else on stdout
    assert list(data) == TOP_KEYS
    assert data["pattern"] == "online"
    assert [r["pattern"] for r in data["ranking"]] == [
        "online", "streaming", "batch", "edge", "chained",
    ]  # fmt: skip
    for entry in data["ranking"]:
        assert list(entry) == ["pattern", "score", "reasons"]
        assert isinstance(entry["score"], float) and 0 <= entry["score"] <= 1
        assert entry["reasons"] and all(isinstance(r, str) for r in entry["reasons"])
    assert data["ranking"][0]["score"] == 0.95
    assert [list(e) for e in data["excluded"]] == [["pattern", "why"]] * 3
    assert {e["pattern"] for e in data["excluded"]} == {"batch", "edge", "chained"}
    assert all(isinstance(w, str) for w in data["warnings"])
    assert set(data["stack"]) == STACK_KEYS
    assert data["stack"]["serving"] == "fastapi" and data["stack"]["runtime"] == "onnxruntime"
    assert data["stack"]["accelerator"] == "cpu" and data["stack"]["gpu"] is False
    assert data["next"] == "mlship new online ./checkout-fraud --p99-ms 50 --model-format onnx"
    assert data["feasible"] is True and data["relax"] == []
    assert result.stderr == ""
