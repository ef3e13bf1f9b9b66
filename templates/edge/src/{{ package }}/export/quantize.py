"""Smaller variants of the fp32 model: dynamic int8, static int8, fp16.

Dynamic int8 stores weights as int8 and quantizes activations on the fly: no calibration
data, the usual first choice on CPUs. Static int8 also fixes activation ranges from
calibration rows (QDQ format), which suits accelerators that run int8 end to end. fp16
halves the file; CPUs mostly compute it by casting back, so it is for GPUs and NPUs.

A graph made only of ``ai.onnx.ml`` operators (scikit-learn trees and linear models) has
no operator with an int8 kernel: the quantizer then changes nothing, and the variant is
reported as not applicable instead of shipping an identical "int8" file.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

# Operators that prove the quantizer did something.
INT8_OPS = {
    "DynamicQuantizeLinear",
    "MatMulInteger",
    "ConvInteger",
    "DynamicQuantizeMatMul",
    "DynamicQuantizeLSTM",
    "QuantizeLinear",
    "QLinearMatMul",
    "QLinearConv",
}
# Operators of the default domain that carry weights the quantizers turn into int8.
WEIGHT_OPS = {"MatMul", "Gemm", "Conv", "ConvTranspose", "Attention", "LSTM", "Gather"}
FP16_TYPE = onnx.TensorProto.FLOAT16


@dataclass
class Quantized:
    variant: str
    path: Path | None
    applicable: bool
    reason: str = ""


def make_variant(variant: str, fp32: Path, out_dir: Path, calibration: np.ndarray) -> Quantized:
    path = out_dir / f"model.{variant}.onnx"
    path.unlink(missing_ok=True)
    if variant != "fp16" and not _has_weight_ops(fp32):
        # onnxruntime's quantizer raises on some of these graphs; nothing to quantize anyway
        return Quantized(variant, None, False, _not_applicable_reason(fp32))
    quiet = logging.getLogger()
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # the quantizer logs advice through the root logger
    try:
        if variant == "dynamic":
            _dynamic(fp32, path)
        elif variant == "static":
            _static(fp32, path, calibration)
        elif variant == "fp16":
            _fp16(fp32, path)
        else:
            raise ValueError(f"unknown variant {variant!r} (dynamic, static or fp16)")
    finally:
        quiet.setLevel(level)
    if variant != "fp16" and not _has_int8_ops(path):
        path.unlink(missing_ok=True)
        return Quantized(variant, None, False, _not_applicable_reason(fp32))
    if variant == "fp16" and not _has_fp16_weights(path):
        path.unlink(missing_ok=True)
        return Quantized(variant, None, False, "no float32 weights that fp16 could halve")
    onnx.checker.check_model(str(path))
    return Quantized(variant, path, True)


def _dynamic(fp32: Path, path: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(fp32), str(path), weight_type=QuantType.QInt8)


class _Calibration:
    """Feeds the calibration rows one small batch at a time."""

    def __init__(self, name: str, rows: np.ndarray, batch: int = 32) -> None:
        self._batches: Iterator[np.ndarray] = iter(
            [rows[i : i + batch] for i in range(0, len(rows), batch)]
        )
        self._name = name

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        return None if batch is None else {self._name: batch}


def _static(fp32: Path, path: Path, calibration: np.ndarray) -> None:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    name = onnx.load(str(fp32), load_external_data=False).graph.input[0].name
    reader = _Calibration(name, calibration.astype(np.float32))
    quantize_static(
        str(fp32),
        str(path),
        reader,
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8,
    )


def _fp16(fp32: Path, path: Path) -> None:
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(fp32))
    # Inputs and outputs stay float32, so callers need no change.
    converted = convert_float_to_float16(model, keep_io_types=True)
    _sort_nodes(converted.graph)
    onnx.save_model(converted, str(path))


def _sort_nodes(graph: onnx.GraphProto) -> None:
    """Put nodes in dependency order: the fp16 converter appends its input casts last."""
    ready = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending = list(graph.node)
    ordered: list[onnx.NodeProto] = []
    while pending:
        runnable = [n for n in pending if all(name in ready for name in n.input)]
        if not runnable:  # a cycle or a missing input: leave it to the checker to name
            ordered += pending
            break
        for node in runnable:
            ordered.append(node)
            ready.update(node.output)
        pending = [n for n in pending if all(n is not r for r in runnable)]
    del graph.node[:]
    graph.node.extend(ordered)


def _ops(path: Path) -> list[tuple[str, str]]:
    graph = onnx.load(str(path), load_external_data=False).graph
    return [(node.domain or "ai.onnx", node.op_type) for node in graph.node]


def _has_weight_ops(path: Path) -> bool:
    return any(domain == "ai.onnx" and op in WEIGHT_OPS for domain, op in _ops(path))


def _has_int8_ops(path: Path) -> bool:
    return any(op in INT8_OPS for _, op in _ops(path))


def _has_fp16_weights(path: Path) -> bool:
    graph = onnx.load(str(path), load_external_data=False).graph
    return any(t.data_type == FP16_TYPE for t in graph.initializer)


def _not_applicable_reason(fp32: Path) -> str:
    ops = _ops(fp32)
    domains = sorted({domain for domain, _ in ops})
    names = sorted({op for _, op in ops})
    if domains == ["ai.onnx.ml"]:
        return (
            "the graph has only ai.onnx.ml operators (" + ", ".join(names) + "), which have "
            "no int8 kernels; quantization would leave the model unchanged"
        )
    return (
        "no operator of the graph has an int8 kernel (" + ", ".join(names) + "); "
        "quantization would leave the model unchanged"
    )
