"""The on-device runtimes beside ONNX: LiteRT, ExecuTorch and Core ML, each checked in its own.

For every requested runtime and variant this module tries the conversion routes in order
(the dedicated converter first, then the fallback), records why each route that did not
work did not, and checks what was produced against the source model's scores on the
evaluation rows, run in that runtime's own interpreter. Core ML cannot run on Linux: its
spec is validated and the result is marked unverified. scikit-learn models stay ONNX-only;
an ONNX source reaches LiteRT only through onnx2tf. Every outcome is a status in the report:

- ``verified``: produced and within the variant's tolerance in the runtime's interpreter;
- ``failed``: produced but outside the tolerance, or a spec that does not validate;
- ``unverified``: produced and validated, but this machine cannot run it (Core ML);
- ``not_produced``: every route failed or is not installed (each reason is listed);
- ``not_applicable``: no route exists for this source format (said plainly, with why).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import parity
from .bench import Case
from .config import Tolerance

RUNTIMES = ("litert", "executorch", "coreml")
# The quantized variants each runtime can build here.
SUPPORTED = {
    "litert": ("dynamic", "static"),
    "executorch": ("dynamic", "static"),
    "coreml": ("dynamic",),
}
NOT_APPLICABLE = {
    "sklearn": "scikit-learn models stay ONNX-only: LiteRT, ExecuTorch and Core ML convert "
    "neural-network programs, and the ONNX export (onnxruntime on Android, iOS and in the "
    "browser) is the on-device route for them",
}
ONNX_SOURCE = {
    "executorch": "ExecuTorch lowers PyTorch programs; an ONNX model has no route to it",
    "coreml": "coremltools 9 converts PyTorch and TensorFlow models, not ONNX",
}


@dataclass
class Inputs:
    """What every conversion and check needs, computed once by the pipeline."""

    framework: str
    module: Any  # the torch module, or None
    width: int
    onnx_fp32: Path
    x: np.ndarray  # evaluation rows
    reference: np.ndarray  # the source model's scores on them
    labels: np.ndarray | None
    calibration: np.ndarray  # rows disjoint from x
    tolerances: dict[str, Tolerance]
    threads: int
    work: Path
    input_name: str


@dataclass
class Built:
    entry: dict[str, Any]
    case: Callable[[np.ndarray, np.ndarray, int], Case] | None = None


def build_all(runtimes: list[str], variants: list[str], inputs: Inputs) -> list[Built]:
    built: list[Built] = []
    for runtime in runtimes:
        if runtime not in RUNTIMES:
            continue
        reason = _not_applicable(runtime, inputs)
        if reason:
            built.append(
                Built(
                    {
                        "target": runtime,
                        "variant": "all",
                        "status": "not_applicable",
                        "reason": reason,
                    }
                )
            )
            continue
        wanted = ["fp32", *[v for v in variants if v in SUPPORTED[runtime]]]
        skipped = [v for v in variants if v not in SUPPORTED[runtime]]
        for variant in wanted:
            built.append(_build_one(runtime, variant, inputs))
        for variant in skipped:
            built.append(
                Built(
                    {
                        "target": runtime,
                        "variant": variant,
                        "status": "not_applicable",
                        "reason": f"{runtime} has no {variant} variant in this pipeline "
                        f"(built here: {', '.join(SUPPORTED[runtime])})",
                    }
                )
            )
    return built


def _not_applicable(runtime: str, inputs: Inputs) -> str | None:
    if inputs.framework in NOT_APPLICABLE:
        return NOT_APPLICABLE[inputs.framework]
    if inputs.framework == "onnx":
        return ONNX_SOURCE.get(runtime)
    return None


def _routes(runtime: str, variant: str, inputs: Inputs) -> list[tuple[str, Callable[[Path], str]]]:
    """(route, convert into a path -> converter name), in the order they are tried."""
    from . import to_coreml, to_executorch, to_litert

    module, width = inputs.module, inputs.width
    if runtime == "litert":

        def quantized(make_fp32: Callable[[Path], str]) -> Callable[[Path], str]:
            def run(dest: Path) -> str:
                if variant == "fp32":
                    return make_fp32(dest)
                fp32 = inputs.work / "litert" / "model.fp32.tflite"
                if not fp32.is_file():
                    make_fp32(fp32)
                to_litert.quantize(fp32, dest, variant, inputs.calibration)
                return f"{make_fp32.__name__} + ai-edge-quantizer"

            return run

        def litert_torch(dest: Path) -> str:
            _needs_exportable(module)
            return to_litert.from_torch(module, width, dest)

        def onnx2tf(dest: Path) -> str:
            return to_litert.from_onnx(inputs.onnx_fp32, dest)

        routes = [("onnx2tf", quantized(onnx2tf))]
        if module is not None:
            routes.insert(0, ("litert-torch", quantized(litert_torch)))
        return routes
    if runtime == "executorch":

        def executorch(dest: Path) -> str:
            _needs_exportable(module)
            return to_executorch.convert(module, width, dest, variant, inputs.calibration)

        return [("executorch", executorch)]

    def coreml(dest: Path) -> str:
        return to_coreml.convert(module, width, dest, variant)

    return [("coremltools", coreml)]


def _needs_exportable(module: Any) -> None:
    import torch

    if isinstance(module, torch.jit.ScriptModule):
        raise RuntimeError(
            "a TorchScript model cannot be traced by torch.export; save the model with "
            "torch.export.save (.pt2) or as a state dict with a factory"
        )


def _build_one(runtime: str, variant: str, inputs: Inputs) -> Built:
    from . import to_coreml, to_executorch, to_litert

    suffix = {"litert": to_litert.SUFFIX, "executorch": to_executorch.SUFFIX}.get(
        runtime, to_coreml.SUFFIX
    )
    folder = inputs.work / runtime
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / f"model.{variant}{suffix}"
    tried: list[dict[str, str]] = []
    converter = None
    for route, convert in _routes(runtime, variant, inputs):
        _remove(dest)
        try:
            converter = convert(dest)
            break
        except Exception as error:  # a converter that fails must not hide the next route
            tried.append({"route": route, "error": f"{type(error).__name__}: {error}"[:1500]})
    entry: dict[str, Any] = {
        "target": runtime,
        "variant": variant,
        "routes_tried": tried,
        "quantization": _quantization(runtime, variant),
    }
    if converter is None:
        entry.update(status="not_produced", reason="; ".join(t["error"] for t in tried))
        return Built(entry)
    entry.update(file=str(dest), converter=converter)
    if runtime == "coreml":
        try:
            checked = to_coreml.validate(dest, inputs.width)
        except Exception as error:  # a spec coremltools cannot read back
            entry.update(status="failed", reason=f"spec: {type(error).__name__}: {error}")
            return Built(entry)
        if not checked["valid"]:
            entry.update(status="failed", reason="spec: " + "; ".join(checked["problems"]))
            return Built(entry)
        entry.update(
            status="unverified",
            signature={"inputs": checked["inputs"], "outputs": checked["outputs"]},
            spec=checked,
            size_bytes=to_coreml.size_bytes(dest),
            reason="Core ML runs only on macOS: parity was not run here (dist/coreml/"
            "check_parity.py runs it on a Mac)",
        )
        return Built(entry)
    try:
        scores, signature, make_case = _runnable(runtime, variant, dest, inputs)
    except Exception as error:  # produced, but its own runtime cannot run it
        entry.update(
            status="failed", reason=f"{runtime} runtime: {type(error).__name__}: {error}"[:1500]
        )
        return Built(entry)
    entry["signature"] = signature
    tolerance = inputs.tolerances.get(variant, inputs.tolerances["fp32"])
    checked_parity = parity.compare(inputs.reference, scores, tolerance, inputs.labels)
    entry.update(
        status="verified" if checked_parity.passed else "failed",
        parity=checked_parity.as_dict(),
        size_bytes=dest.stat().st_size,
    )
    return Built(entry, make_case)


def _runnable(
    runtime: str, variant: str, dest: Path, inputs: Inputs
) -> tuple[np.ndarray, dict[str, Any], Callable[[np.ndarray, np.ndarray, int], Case]]:
    """Scores of the evaluation rows in the runtime's interpreter, its signature, a timer."""
    from . import to_executorch, to_litert

    if runtime == "litert":

        def litert_case(row: np.ndarray, rows: np.ndarray, repeats: int) -> Case:
            return to_litert.case(f"litert/{variant}", dest, row, rows, inputs.threads, repeats)

        scores = to_litert.scorer(dest, inputs.threads)(inputs.x)
        return scores, to_litert.Runner(dest).signature(), litert_case

    def executorch_case(row: np.ndarray, rows: np.ndarray, repeats: int) -> Case:
        return to_executorch.case(f"executorch/{variant}", dest, row, rows, repeats)

    scores = to_executorch.scorer(dest)(inputs.x)
    return scores, to_executorch.signature(dest, inputs.width), executorch_case


def _quantization(runtime: str, variant: str) -> str:
    from . import to_coreml, to_executorch, to_litert

    table = {
        "litert": to_litert.QUANTIZATION,
        "executorch": to_executorch.QUANTIZATION,
        "coreml": to_coreml.QUANTIZATION,
    }[runtime]
    return table.get(variant, variant)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
