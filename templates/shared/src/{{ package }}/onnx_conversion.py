"""Serve a scikit-learn model at ONNX speed: convert it, prove parity, or say why not.

onnxruntime answers one row in a fraction of the time a scikit-learn object takes, so a
project whose model format is ``sklearn`` converts the model with skl2onnx when it builds
it. The ONNX file is used only when it agrees with the source model on the given rows:
equal labels (rows where the source's two best scores tie have no right label) and
scores within ``TOLERANCE``. Otherwise the scikit-learn file is served and the reason is
kept in the manifest's ``conversion`` block.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .inference.manifest import sha256_of

TOLERANCE = 1e-4
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}


class NotConvertible(Exception):
    """The model cannot be served as ONNX; the message says why."""


def _convert(model: Any, n_features: int) -> bytes:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    final = model.steps[-1][1] if hasattr(model, "steps") else model
    try:
        onnx_model = convert_sklearn(
            model,
            initial_types=[("input", FloatTensorType([None, n_features]))],
            options={id(final): {"zipmap": False}},
            target_opset=TARGET_OPSET,
        )
    except Exception as error:  # skl2onnx raises many kinds for what it cannot convert
        problem = f"{type(error).__name__}: {error}"
        raise NotConvertible(f"skl2onnx cannot convert it ({problem})") from error
    return bytes(onnx_model.SerializeToString())


def _parity(model: Any, onnx_bytes: bytes, rows: np.ndarray) -> dict[str, Any]:
    import onnxruntime as ort

    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    labels, scores = session.run(["label", "probabilities"], {"input": rows})
    expected = np.asarray(model.predict_proba(rows), dtype=np.float64)
    top = np.sort(expected, axis=1)
    ties = top[:, -1] - top[:, -2] <= TOLERANCE
    differing = int(((np.asarray(labels).ravel() != model.predict(rows)) & ~ties).sum())
    gap = float(np.abs(expected - np.asarray(scores, dtype=np.float64)).max())
    if differing:
        raise NotConvertible(f"other labels than the source model on {differing} rows")
    if gap > TOLERANCE:
        raise NotConvertible(f"scores differ from the source model's by {gap:.2e}")
    return {
        "rows": len(rows),
        "tolerance": TOLERANCE,
        "labels_equal": True,
        "tie_rows": int(ties.sum()),
        "max_abs_diff": gap,
    }


def serve_as_onnx(model: Any, rows: np.ndarray, source: Path) -> tuple[Path, dict[str, Any]]:
    """The file to serve next to ``source`` (the saved scikit-learn model) and the manifest
    fields that describe how it came to be: ``model.onnx`` or ``source`` itself."""
    try:
        import skl2onnx
    except ImportError:  # make model without the demo extra: serve the scikit-learn file
        reason = "skl2onnx is not installed (pip install -e '.[demo]' converts the model)"
        return source, {"conversion": {"status": "failed", "reason": reason}}
    converter = f"skl2onnx {skl2onnx.__version__}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            onnx_bytes = _convert(model, rows.shape[1])
            parity = _parity(model, onnx_bytes, rows.astype(np.float32))
    except NotConvertible as error:
        failed = {"status": "failed", "converter": converter, "reason": str(error)}
        return source, {"conversion": failed}
    target = source.with_name("model.onnx")
    target.write_bytes(onnx_bytes)
    return target, {
        "source_model": {"file": source.name, "framework": "sklearn", "sha256": sha256_of(source)},
        "conversion": {
            "status": "converted",
            "converter": converter,
            "target_opset": TARGET_OPSET,
            "parity": parity,
        },
    }
