"""fp32 against int8 from the generated edge pipeline, on its demo models.

Renders an edge project per model format (onnx: scikit-learn's perceptron converted by
skl2onnx; torch: the same shape of perceptron in PyTorch, when torch imports here), builds
the demo model and runs the pipeline (``python -m <package>.export run``) on this
interpreter, with dynamic and static int8 and fp16 next to fp32, one intra-op thread and
a longer timing window than the default. Reports, per format and variant, the latency
ratio against fp32 for one row and for a 256-row batch (p50), the size ratio and the
accuracy delta on the held-out digits.

Target (issue 7): dynamic int8 pays off on the demo model: faster than fp32 on a 256-row
batch, at least 3x smaller, accuracy within 2 points.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = "dynamic,static,fp16"
SECONDS_PER_CASE = 3.0
RUN_TIMEOUT_S = 900


def _project(work: Path, model_format: str) -> Path:
    sys.path.insert(0, str(ROOT))
    from tests.e2e.conftest import render_project

    dest = work / f"edge-{model_format}"
    render_project(
        dest,
        pattern="edge",
        project_name="bench-edge",
        package="bench_edge",
        model_format=model_format,
    )
    config = (dest / "export.yaml").read_text()
    config = config.replace("seconds_per_case: 1.5", f"seconds_per_case: {SECONDS_PER_CASE}")
    config = config.replace("max_runs: 2000", "max_runs: 20000")
    (dest / "export.yaml").write_text(config)
    return dest


def _run(dest: Path, *args: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(dest / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
    # The project's own output goes to stderr: stdout carries only the JSON result.
    subprocess.run(
        [sys.executable, "-m", *args],
        cwd=dest,
        env=env,
        check=True,
        timeout=RUN_TIMEOUT_S,
        stdout=sys.stderr,
    )


def _figures(report: dict[str, Any]) -> dict[str, Any]:
    fp32 = report["variants"][0]
    rows: dict[str, Any] = {
        "fp32": {
            "size_bytes": fp32["benchmark"]["size_bytes"],
            "single_p50_ms": fp32["benchmark"]["single"]["p50_ms"],
            "batch_p50_ms": fp32["benchmark"]["batch"]["p50_ms"],
            "accuracy": fp32["parity"]["accuracy"],
        }
    }
    for variant in report["variants"][1:]:
        name = variant["name"]
        ratio = report["ratios"][name]
        rows[name] = {
            "size_bytes": variant["benchmark"]["size_bytes"],
            "single_p50_ms": variant["benchmark"]["single"]["p50_ms"],
            "batch_p50_ms": variant["benchmark"]["batch"]["p50_ms"],
            "single_speedup": round(ratio["single_speedup"], 2),
            "batch_speedup": round(ratio["batch_speedup"], 2),
            "size_ratio": round(ratio["size_ratio"], 2),
            "accuracy_delta": ratio["accuracy_delta"],
            "parity_passed": variant["parity"]["passed"],
        }
    return {
        "variants": rows,
        "not_applicable": report["not_applicable"],
        "failed_variants": report["failed_variants"],
        "ship": report["recommendation"]["variant"],
        "machine": report["benchmark"]["machine"],
        "threads": report["benchmark"]["threads"],
    }


def main() -> dict[str, Any]:
    formats = ["onnx"]
    if importlib.util.find_spec("torch") and importlib.util.find_spec("onnxscript"):
        formats.append("torch")
    work = Path(tempfile.mkdtemp(prefix="mlship-bench-edge-"))
    results: dict[str, Any] = {}
    try:
        for model_format in formats:
            dest = _project(work, model_format)
            _run(dest, "bench_edge.demo_model", "--format", model_format)
            _run(dest, "bench_edge.export", "run", "--variants", VARIANTS, "--target", "server")
            report = json.loads((dest / "dist" / "report.json").read_text())
            results[model_format] = _figures(report)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    dynamic = [r["variants"].get("dynamic") for r in results.values()]
    ok = all(
        d is not None
        and d["batch_speedup"] > 1.0
        and d["size_ratio"] >= 3.0
        and abs(d["accuracy_delta"]) <= 0.02
        for d in dynamic
    )
    skipped = [] if "torch" in formats else ["torch: torch or onnxscript not importable here"]
    return {"formats": results, "skipped": skipped, "ok": ok}


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
