"""ExecuTorch: lower a PyTorch program to a ``.pte`` file and run it in ExecuTorch's runtime.

The program is exported with ``torch.export`` (dynamic batch up to ``MAX_BATCH``) and lowered
to the XNNPACK backend, the CPU backend ExecuTorch ships on Android, iOS and Linux boards.
int8 comes from the PT2E flow with XNNPACK's quantizer: dynamic (int8 weights, activations
quantized per call) and static (activation ranges observed on the calibration rows).
Parity and timing run in ``executorch.runtime``, the same C++ runtime an app embeds.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .bench import Case, load_time_ms

SUFFIX = ".pte"
MAX_BATCH = 1024
QUANTIZATION = {
    "fp32": "none (float32, XNNPACK)",
    "dynamic": "dynamic int8 (PT2E, XNNPACK quantizer: int8 weights, per-call activations)",
    "static": "static int8 (PT2E, XNNPACK quantizer: calibrated activation ranges)",
}


def convert(module: Any, width: int, dest: Path, variant: str, calibration: np.ndarray) -> str:
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    example = (torch.zeros(2, width),)
    shapes = ({0: torch.export.Dim("batch", min=1, max=MAX_BATCH)},)
    program = torch.export.export(module, example, dynamic_shapes=shapes)
    if variant in ("dynamic", "static"):
        program = torch.export.export(
            _quantized(program.module(), variant, calibration), example, dynamic_shapes=shapes
        )
    elif variant != "fp32":
        raise ValueError(f"ExecuTorch has no {variant!r} variant here (dynamic, static)")
    lowered = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
    dest.write_bytes(lowered.to_executorch().buffer)
    return f"executorch {_version('executorch')} (torch.export, XNNPACK)"


def _quantized(module: Any, variant: str, calibration: np.ndarray) -> Any:
    import torch
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    config = get_symmetric_quantization_config(is_per_channel=True, is_dynamic=variant == "dynamic")
    prepared = prepare_pt2e(module, XNNPACKQuantizer().set_global(config))
    with torch.no_grad():
        for start in range(0, len(calibration), 32):
            prepared(torch.from_numpy(calibration[start : start + 32].astype(np.float32)))
    return convert_pt2e(prepared)


def pin_threads(threads: int) -> int | None:
    """XNNPACK's thread pool to ``threads`` (as onnxruntime's intra-op threads), if it can."""
    try:
        from executorch.extension.pybindings import portable_lib
    except ImportError:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the call is marked experimental
        portable_lib._unsafe_reset_threadpool(threads)
        return int(portable_lib._threadpool_get_thread_count())


def _method(path: Path) -> Any:
    from executorch.runtime import Runtime

    return Runtime.get().load_program(path).load_method("forward")


def signature(path: Path, width: int) -> dict[str, Any]:
    meta = _method(path).metadata
    return {
        "inputs": [{"name": "input", "dtype": "float32", "shape": [None, width]}],
        "outputs": [{"name": "probabilities", "dtype": "float32", "shape": [None, None]}],
        "method": "forward",
        "num_inputs": meta.num_inputs(),
        "num_outputs": meta.num_outputs(),
        "max_batch": MAX_BATCH,
    }


def _call(method: Any) -> Callable[[np.ndarray], np.ndarray]:
    import torch

    def run(x: np.ndarray) -> np.ndarray:
        return np.asarray(method.execute([torch.from_numpy(x)])[0].numpy())

    return run


def scorer(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    run = _call(_method(path))

    def scores(x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        parts = [run(x[i : i + MAX_BATCH]) for i in range(0, len(x), MAX_BATCH)]
        return np.concatenate(parts).astype(np.float64)

    return scores


def case(
    name: str, path: Path, row: np.ndarray, rows: np.ndarray, repeats: int, threads: int = 1
) -> Case:
    pin_threads(threads)
    single, batch = _call(_method(path)), _call(_method(path))
    return Case(
        name=name,
        single=lambda: single(row),
        batch=lambda: batch(rows),
        load_ms=load_time_ms(lambda: _call(_method(path))(row), repeats),
        size_bytes=path.stat().st_size,
    )


def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "?"
