"""Assemble ``dist/``: the chosen model, its manifest, and the runtimes to run it with.

Every target gets the model, a manifest (sha256, schema, quantization, parity figures) and
a Python onnxruntime example. ``browser`` adds a static page that runs the model with
onnxruntime-web, vendored from npm (no CDN). Phones and boards add the model in ONNX
Runtime's ORT format (for its mobile and minimal builds), checked in onnxruntime. Each
other runtime that was built gets a folder of its own (``litert/``, ``executorch/``,
``coreml/``) with its artifact, a manifest and a minimal loader per platform; a runtime
that could not be built is named in the notes with the reason.
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
    report: dict[str, Any],
    predictor: Predictor,
    x: np.ndarray,
    out: Path,
    work: Path,
    reference: np.ndarray | None = None,
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
    elif target in ("mobile", "android", "ios", "embedded"):
        ort_file, ort_notes = _ort_format(model, out, x, output)
        notes += ort_notes
        extra_files["ort_format"] = ort_file.name
    _write_manifest(report, predictor, variant, model, out, extra_files)
    notes += runtime_bundles(report, predictor, x, reference, out)
    return notes


SHIPPABLE = ("verified", "unverified")


def shipped_variant(entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The runtime's variant to ship: the smallest verified one that meets the budget,
    else its verified fp32; an unverified runtime (Core ML) ships fp32."""
    produced = [e for e in entries if e["status"] in SHIPPABLE]
    passing = [
        e
        for e in produced
        if e["status"] == "verified" and e.get("budget", {}).get("passed", False)
    ]
    if passing:
        return min(passing, key=lambda e: e["size_bytes"])
    return next((e for e in produced if e["variant"] == "fp32"), None)


def runtime_bundles(
    report: dict[str, Any],
    predictor: Predictor,
    x: np.ndarray,
    reference: np.ndarray | None,
    out: Path,
) -> list[str]:
    notes: list[str] = []
    entries = report.get("runtimes", [])
    for runtime in dict.fromkeys(e["target"] for e in entries):
        mine = [e for e in entries if e["target"] == runtime]
        chosen = shipped_variant(mine)
        if chosen is None:
            reasons = "; ".join(
                f"{e['variant']}: {e['status']} ({e.get('reason', '')})" for e in mine
            )
            notes.append(f"{runtime} is not in the bundle: {reasons}")
            continue
        folder = out / runtime
        folder.mkdir()
        source = Path(chosen["file"])
        target = folder / f"model{source.suffix}"
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copyfile(source, target)
        _runtime_manifest(report, predictor, chosen, target, folder)
        for asset in sorted((ASSETS / runtime).iterdir()):
            shutil.copyfile(asset, folder / asset.name)
        if runtime == "coreml" and reference is not None:
            from .to_coreml import write_parity_kit

            write_parity_kit(folder, x, reference, chosen["signature"]["inputs"][0]["name"])
        state = (
            "verified in its own interpreter"
            if chosen["status"] == "verified"
            else (
                "UNVERIFIED: Core ML runs only on macOS; run dist/coreml/check_parity.py on a Mac"
            )
        )
        notes.append(f"dist/{runtime}/{target.name}: the {chosen['variant']} variant, {state}")
    return notes


def _file_digests(path: Path) -> dict[str, str]:
    if path.is_dir():
        return {
            str(p.relative_to(path)): sha256_of(p) for p in sorted(path.rglob("*")) if p.is_file()
        }
    return {path.name: sha256_of(path)}


def _runtime_manifest(
    report: dict[str, Any], predictor: Predictor, entry: dict[str, Any], model: Path, out: Path
) -> None:
    source = predictor.manifest
    runtime = entry["target"]
    document: dict[str, Any] = {
        "schema_version": 1,
        "name": source.name,
        "version": source.version,
        "runtime": runtime,
        "file": model.name,
        "created": report["created"],
        "variant": entry["variant"],
        "quantization": entry["quantization"],
        "converter": entry["converter"],
        "status": entry["status"],
        "signature": entry["signature"],
        "features": source.input.features,
        "classes": source.output.classes,
        "source_model": {"file": source.file, "sha256": source.sha256},
    }
    if model.is_dir():
        document["files"] = _file_digests(model)
    else:
        document["sha256"] = sha256_of(model)
    if "parity" in entry:
        document["parity"] = {k: v for k, v in entry["parity"].items() if k != "worst"}
    if runtime == "coreml":
        tolerances = report["tolerances"]
        document["tolerance"] = tolerances.get(entry["variant"], tolerances["fp32"])
        document["unverified_reason"] = entry.get("reason")
    (out / "manifest.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


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
