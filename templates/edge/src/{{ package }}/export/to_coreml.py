"""Core ML: convert a PyTorch program with coremltools and validate the model spec here.

coremltools converts on Linux, but only macOS runs a Core ML model, so parity cannot be
checked on this machine: each Core ML artifact is marked *unverified*, and the bundle
carries ``check_parity.py`` with the rows and the source model's scores to run on a Mac.
What is checked here: the spec loads, its input and output names, types and batch range
match the source, and the mlprogram holds float32 (or int8) weights as asked. The int8
variant quantizes the weights only (``linear_quantize_weights``); Core ML has no
calibrated int8 activations path through coremltools' public API.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

SUFFIX = ".mlpackage"
MAX_BATCH = 1024
QUANTIZATION = {
    "fp32": "none (float32 compute precision)",
    "dynamic": "int8 weights (linear symmetric), float32 activations",
}


def convert(module: Any, width: int, dest: Path, variant: str) -> str:
    import coremltools as ct
    import torch

    example = (torch.zeros(2, width),)
    shapes = ({0: torch.export.Dim("batch", min=1, max=MAX_BATCH)},)
    if isinstance(module, torch.jit.ScriptModule):
        source: Any = torch.jit.trace(module, example[0][:1])
        inputs = [ct.TensorType(name="input", shape=(ct.RangeDim(1, MAX_BATCH, 1), width))]
    else:
        source = torch.export.export(module, example, dynamic_shapes=shapes)
        source = source.run_decompositions({})
        inputs = None
    model = ct.convert(
        source,
        inputs=inputs,
        convert_to="mlprogram",
        compute_precision=ct.precision.FLOAT32,
        minimum_deployment_target=ct.target.iOS17,
    )
    if variant == "dynamic":
        from coremltools.optimize.coreml import (
            OpLinearQuantizerConfig,
            OptimizationConfig,
            linear_quantize_weights,
        )

        config = OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int8")
        model = linear_quantize_weights(model, OptimizationConfig(global_config=config))
    elif variant != "fp32":
        raise ValueError(f"Core ML has no {variant!r} variant here (dynamic)")
    shutil.rmtree(dest, ignore_errors=True)
    model.save(str(dest))
    return f"coremltools {ct.__version__} (mlprogram, iOS 17)"


def validate(path: Path, width: int) -> dict[str, Any]:
    """Load the saved spec and check what can be checked without macOS."""
    import coremltools as ct

    spec = ct.utils.load_spec(str(path))
    description = spec.description
    problems: list[str] = []
    if spec.WhichOneof("Type") != "mlProgram":
        problems.append(f"expected an mlprogram, got {spec.WhichOneof('Type')}")
    inputs = [_describe(feature) for feature in description.input]
    outputs = [_describe(feature) for feature in description.output]
    if len(inputs) != 1 or inputs[0]["shape"][-1] != width:
        problems.append(f"expected one input of {width} features, got {inputs}")
    if len(outputs) != 1 or outputs[0]["dtype"] != "float32":
        problems.append(f"expected one float32 output, got {outputs}")
    return {
        "spec_version": spec.specificationVersion,
        "inputs": inputs,
        "outputs": outputs,
        "problems": problems,
        "valid": not problems,
    }


def _describe(feature: Any) -> dict[str, Any]:
    array = feature.type.multiArrayType
    names = {65568: "float32", 65552: "float16", 131104: "int32"}
    ranges = array.shapeRange.sizeRanges
    shape: list[Any] = [
        {"min": r.lowerBound, "max": r.upperBound} if r.lowerBound != r.upperBound else r.lowerBound
        for r in ranges
    ] or list(array.shape)
    return {
        "name": feature.name,
        "dtype": names.get(array.dataType, str(array.dataType)),
        "shape": shape,
    }


def size_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def write_parity_kit(out: Path, x: np.ndarray, reference: np.ndarray, input_name: str) -> None:
    """The rows and the source model's scores, for check_parity.py on a Mac."""
    np.savez(out / "parity_rows.npz", x=x.astype(np.float32), scores=reference)
    (out / "parity.json").write_text(
        json.dumps({"input_name": input_name, "rows": len(x)}) + "\n", encoding="utf-8"
    )
