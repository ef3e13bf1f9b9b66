"""LiteRT (TensorFlow Lite): convert, quantize, and run in the LiteRT interpreter.

A PyTorch program goes through ``litert-torch`` (the converter Google ships for PyTorch);
the int8 variants come from ``ai-edge-quantizer``: dynamic (int8 weights, activations
quantized at run time) and static (int8 weights and activations, ranges calibrated on the
calibration rows). Parity and timing run in ``ai-edge-litert``'s interpreter, the same
runtime an Android app links. When no PyTorch program is at hand, the fallback route is
the ONNX export through ``onnx2tf`` (a command of its own: it pins TensorFlow and older
onnx and numpy releases, so it lives in a separate environment).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .bench import Case, load_time_ms

SUFFIX = ".tflite"
QUANTIZATION = {
    "fp32": "none (float32)",
    "dynamic": "dynamic-range int8 (int8 weights, activations quantized at run time)",
    "static": "full int8 (int8 weights and activations, calibrated ranges)",
}
ONNX2TF_TIMEOUT_S = 900


def from_torch(module: Any, width: int, dest: Path) -> str:
    """Write the float32 LiteRT model of a PyTorch module (batch 1, resizable)."""
    import litert_torch
    import torch

    with contextlib.suppress(NotImplementedError):  # a torch.export program: no eval()
        module = module.eval()
    edge = litert_torch.convert(module, (torch.zeros(1, width),))
    edge.export(str(dest))
    return f"litert-torch {_version('litert-torch')}"


def from_onnx(onnx_path: Path, dest: Path) -> str:
    """The fallback route: ``onnx2tf`` on the ONNX export (needs the command on PATH)."""
    command = shutil.which("onnx2tf")
    if command is None:
        raise RuntimeError(
            "onnx2tf is not installed: it pins tensorflow 2.19, onnx 1.19 and numpy 1.26, "
            "which conflict with this project's pins; install it in a venv of its own and "
            "put its onnx2tf command on PATH"
        )
    out = dest.parent / "onnx2tf"
    shutil.rmtree(out, ignore_errors=True)
    done = subprocess.run(
        [command, "-i", str(onnx_path), "-o", str(out), "-n"],
        capture_output=True,
        text=True,
        timeout=ONNX2TF_TIMEOUT_S,
        check=False,
    )
    produced = out / f"{onnx_path.stem}_float32.tflite"
    if done.returncode != 0 or not produced.is_file():
        raise RuntimeError(f"onnx2tf failed: {done.stderr[-1500:]}")
    shutil.move(str(produced), dest)
    shutil.rmtree(out, ignore_errors=True)
    return "onnx2tf (from the ONNX export)"


def quantize(fp32: Path, dest: Path, variant: str, calibration: np.ndarray) -> None:
    """An int8 variant of the float32 model with ai-edge-quantizer."""
    from ai_edge_quantizer import quantizer, recipe

    engine = quantizer.Quantizer(str(fp32))
    if variant == "dynamic":
        engine.load_quantization_recipe(recipe.dynamic_wi8_afp32())
        result = engine.quantize()
    elif variant == "static":
        engine.load_quantization_recipe(recipe.static_wi8_ai8())
        signature, input_name = _signature(fp32)
        rows = [{input_name: row[None, :]} for row in calibration.astype(np.float32)]
        result = engine.quantize(engine.calibrate({signature: rows}, num_threads=1))
    else:
        raise ValueError(f"LiteRT has no {variant!r} variant here (dynamic, static)")
    dest.unlink(missing_ok=True)
    result.export_model(str(dest), overwrite=True)


def _signature(path: Path) -> tuple[str, str]:
    from ai_edge_litert.interpreter import Interpreter

    signatures = Interpreter(model_path=str(path)).get_signature_list()
    name = next(iter(signatures))
    return name, signatures[name]["inputs"][0]


class Runner:
    """One LiteRT interpreter, resized to the batch it is given."""

    def __init__(self, path: Path, threads: int = 1) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self._interpreter = Interpreter(model_path=str(path), num_threads=threads)
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]["index"]
        self._rows = -1

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if len(x) != self._rows:
            self._interpreter.resize_tensor_input(self._input["index"], list(x.shape))
            self._interpreter.allocate_tensors()
            self._rows = len(x)
        self._interpreter.set_tensor(self._input["index"], _to_input(x, self._input))
        self._interpreter.invoke()
        detail = self._interpreter.get_output_details()[0]
        return _from_output(np.array(self._interpreter.get_tensor(self._output)), detail)

    def signature(self) -> dict[str, Any]:
        output = self._interpreter.get_output_details()[0]
        return {
            "inputs": [_describe(self._input)],
            "outputs": [_describe(output)],
        }


def _to_input(x: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """Full-int8 models take int8 inputs: quantize with the input's scale and zero point."""
    dtype = np.dtype(detail["dtype"])
    if dtype == np.float32:
        return x
    scale, zero = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)


def _from_output(y: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    if y.dtype == np.float32:
        return y
    scale, zero = detail["quantization"]
    return ((y.astype(np.float32) - zero) * scale).astype(np.float32)


def _describe(detail: dict[str, Any]) -> dict[str, Any]:
    shape = [int(v) for v in detail["shape_signature"]]
    described: dict[str, Any] = {
        "name": detail["name"],
        "dtype": np.dtype(detail["dtype"]).name,
        "shape": [None if v < 0 else v for v in shape],
    }
    scale, zero = detail["quantization"]
    if scale:
        described["quantization"] = {"scale": float(scale), "zero_point": int(zero)}
    return described


def scorer(path: Path, threads: int = 1, chunk: int = 1024) -> Callable[[np.ndarray], np.ndarray]:
    runner = Runner(path, threads)

    def scores(x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        parts = [runner(x[i : i + chunk]) for i in range(0, len(x), chunk)]
        return np.concatenate(parts).astype(np.float64)

    return scores


def case(
    name: str, path: Path, row: np.ndarray, rows: np.ndarray, threads: int, repeats: int
) -> Case:
    single, batch = Runner(path, threads), Runner(path, threads)
    return Case(
        name=name,
        single=lambda: single(row),
        batch=lambda: batch(rows),
        load_ms=load_time_ms(lambda: Runner(path, threads)(row), repeats),
        size_bytes=path.stat().st_size,
    )


def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "?"
