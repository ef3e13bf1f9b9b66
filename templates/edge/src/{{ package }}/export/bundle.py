"""Assemble ``dist/``: the chosen model, its manifest, and the runtimes to run it with.

Every target gets the model, a manifest (sha256, schema, quantization, parity figures) and
a Python onnxruntime example. ``browser`` adds a static page that runs the model with
onnxruntime-web, vendored from npm (no CDN). ``mobile`` and ``embedded`` add the model in
ONNX Runtime's ORT format (for its mobile and minimal builds), checked in onnxruntime.
LiteRT and Core ML are not produced here; the notes say what would be needed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..inference.manifest import sha256_of
from ..inference.predictor import Predictor
from .ort_session import open_session, run_scores

ASSETS = Path(__file__).parent / "assets"
ORT_WEB_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.wasm", "ort-wasm-simd-threaded.mjs")
ORT_FORMAT_TOLERANCE = 1e-5
NPM_TIMEOUT_S = 600


class BundleError(RuntimeError):
    """A runtime the target needs could not be put in the bundle."""


def assemble(
    report: dict[str, Any], predictor: Predictor, x: np.ndarray, out: Path, work: Path
) -> list[str]:
    out.mkdir(parents=True)
    chosen = report["recommendation"]["variant"]
    variant = next(v for v in report["variants"] if v["name"] == chosen)
    model = out / "model.onnx"
    shutil.copyfile(variant["file"], model)
    output = report["export"]["score_output"]
    target = report["budget"]["target"]
    notes = [f"dist/model.onnx is the {chosen} variant"]
    shutil.copyfile(ASSETS / "predict.py", out / "predict.py")
    shutil.copyfile(ASSETS / "requirements.txt", out / "requirements.txt")
    extra_files: dict[str, str] = {}
    if target == "browser":
        notes += _web(out, work, predictor, x, output)
    elif target in ("mobile", "embedded"):
        ort_file, ort_notes = _ort_format(model, out, x, output)
        notes += ort_notes
        extra_files["ort_format"] = ort_file.name
        notes += [
            "LiteRT (TFLite) is not produced: no ONNX-to-LiteRT converter is installed here "
            "(onnx2tf needs TensorFlow); convert dist/model.onnx with onnx2tf, or export the "
            "PyTorch source with ai-edge-torch, then check it with the LiteRT interpreter",
            "Core ML is not produced: coremltools converts PyTorch or TensorFlow, not ONNX; "
            "convert the source model on macOS and check it there",
        ]
    _write_manifest(report, predictor, variant, model, out, extra_files)
    return notes


def _write_manifest(
    report: dict[str, Any],
    predictor: Predictor,
    variant: dict[str, Any],
    model: Path,
    out: Path,
    extra_files: dict[str, str],
) -> None:
    source = predictor.manifest
    document = {
        "schema_version": 1,
        "name": source.name,
        "version": source.version,
        "framework": "onnx",
        "file": model.name,
        "sha256": sha256_of(model),
        "created": report["created"],
        "source": source.source,
        "task": source.task,
        "input": source.input.model_dump(),
        "output": {"name": report["export"]["score_output"], "classes": source.output.classes},
        "edge": {
            "variant": variant["name"],
            "quantization": {
                "fp32": "none",
                "dynamic": "dynamic int8 (int8 weights, activations quantized at run time)",
                "static": "static int8 QDQ (calibrated activation ranges)",
                "fp16": "float16 weights, float32 inputs and outputs",
            }[variant["name"]],
            "opset": report["export"]["opset"],
            "exporter": report["export"]["exporter"],
            "onnx_inputs": report["export"]["inputs"],
            "onnx_outputs": report["export"]["outputs"],
            "parity": {k: v for k, v in variant["parity"].items() if k != "worst"},
            "target": report["budget"]["target"],
            "budget_verdict": variant["budget"]["verdict"],
            "source_model": {"file": source.file, "sha256": source.sha256},
            "files": extra_files,
        },
    }
    (out / "manifest.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def _ort_format(model: Path, out: Path, x: np.ndarray, output: str) -> tuple[Path, list[str]]:
    """Convert to ORT format and prove the converted file gives the same scores."""
    scratch = out.parent / "ort-format"
    scratch.mkdir()
    shutil.copyfile(model, scratch / "model.onnx")
    command = [
        sys.executable,
        "-m",
        "onnxruntime.tools.convert_onnx_models_to_ort",
        "--optimization_style=Fixed",
        # mobile and embedded CPUs are mostly ARM: no x86-only layout optimizations
        "--target_platform=arm",
        str(scratch / "model.onnx"),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    converted = scratch / "model.ort"
    if done.returncode != 0 or not converted.is_file():
        raise BundleError(f"ORT format conversion failed: {done.stderr[-2000:]}")
    target = out / "model.ort"
    shutil.move(str(converted), target)
    shutil.rmtree(scratch)
    expected = run_scores(open_session(model), x, output)
    got = run_scores(open_session(target), x, output)
    gap = float(np.abs(expected - got).max())
    if gap > ORT_FORMAT_TOLERANCE:
        raise BundleError(f"ORT format model differs from model.onnx by {gap:.3g}")
    return target, [
        f"dist/model.ort: ORT format for ONNX Runtime Mobile, loaded back in onnxruntime and "
        f"equal to model.onnx within {gap:.1e} on the sample"
    ]


def _web(out: Path, work: Path, predictor: Predictor, x: np.ndarray, output: str) -> list[str]:
    dist = _ort_web(work)
    web = out / "web"
    (web / "ort").mkdir(parents=True)
    for name in ORT_WEB_FILES:
        shutil.copyfile(dist / name, web / "ort" / name)
    for name in ("index.html", "app.js"):
        shutil.copyfile(ASSETS / "web" / name, web / name)
    row = x[:1].astype(np.float32)
    scores = run_scores(open_session(out / "model.onnx"), row, output)[0]
    example = {
        "input_name": predictor.manifest.input.name,
        "output_name": output,
        "features": predictor.schema.n_features,
        "classes": predictor.manifest.output.classes,
        "instance": [float(v) for v in row[0]],
        "expected_scores_python": [float(v) for v in scores],
    }
    (web / "example.json").write_text(json.dumps(example) + "\n", encoding="utf-8")
    version = json.loads((dist.parent / "package.json").read_text())["version"]
    return [
        f"dist/web/: static page running model.onnx with onnxruntime-web {version} "
        "(vendored, no CDN); serve dist/ over HTTP and open /web/"
    ]


def _ort_web(work: Path) -> Path:
    """onnxruntime-web's dist folder, installed from npm at the pinned version when missing."""
    root = work / "web"
    dist = root / "node_modules" / "onnxruntime-web" / "dist"
    pinned = json.loads((ASSETS / "web" / "package.json").read_text())
    wanted = pinned["dependencies"]["onnxruntime-web"]
    installed = dist.parent / "package.json"
    if installed.is_file() and json.loads(installed.read_text())["version"] == wanted:
        return dist
    npm = shutil.which("npm")
    if npm is None:
        raise BundleError(
            "target browser needs onnxruntime-web from npm, and npm is not installed: "
            "install Node.js (with npm) and run `make export` again"
        )
    root.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ASSETS / "web" / "package.json", root / "package.json")
    done = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--ignore-scripts"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=NPM_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0 or not all((dist / name).is_file() for name in ORT_WEB_FILES):
        raise BundleError(f"npm install of onnxruntime-web failed: {done.stderr[-2000:]}")
    return dist
