"""scikit-learn to ONNX at import: convert with skl2onnx, prove parity, or say why not.

A scikit-learn model served by onnxruntime answers in a fraction of the time the
scikit-learn object takes for one row, so ``mlship new --model`` converts every estimator
or pipeline skl2onnx can handle. The conversion is trusted only after the ONNX graph and
the source model agree on rows derived from the model's input schema and its own fitted
statistics: equal labels (except on rows where the source's top two scores tie within the
tolerance, where no label is right), and scores within ``TOLERANCE``. Anything else (an estimator
skl2onnx does not know, a disagreement, a missing library) leaves the scikit-learn model
in charge and the reason is reported and recorded in the manifest.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

TOLERANCE = 1e-4  # largest absolute difference allowed between the two models' scores
PARITY_ROWS = 512
SEED = 0
# Opsets every onnxruntime of the last few years runs (the project pins its own version).
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
CONVERTER_MODULES = ("skl2onnx", "onnx", "onnxruntime")


@dataclass
class Conversion:
    """The outcome: the ONNX bytes and the parity figures, or the reason it failed."""

    onnx_bytes: bytes | None
    output_name: str = ""
    reason: str | None = None
    record: dict[str, Any] = field(default_factory=dict)  # the manifest's "conversion"

    @property
    def converted(self) -> bool:
        return self.onnx_bytes is not None


class ConversionFailed(Exception):
    """The model cannot be served as ONNX; the message says why."""


def _final_step(model: Any) -> Any:
    return model.steps[-1][1] if hasattr(model, "steps") else model


def _is_classifier(model: Any) -> bool:
    return getattr(_final_step(model), "_estimator_type", None) == "classifier" or hasattr(
        _final_step(model), "classes_"
    )


def parity_rows(model: Any, n_features: int, rows: int = PARITY_ROWS) -> Any:
    """float32 rows spread over the range the model was fitted on, where it says so.

    The first step's fitted statistics give the range: a scaler's mean and scale or min and
    max, or the split thresholds of a tree ensemble; without them, rows mix unit and wide
    normal draws. Every row is finite and has ``n_features`` columns.
    """
    import numpy as np

    generator = np.random.default_rng(SEED)
    first = model.steps[0][1] if hasattr(model, "steps") else model
    centre, spread = np.zeros(n_features), np.ones(n_features)
    mean, scale = getattr(first, "mean_", None), getattr(first, "scale_", None)
    low, high = getattr(first, "data_min_", None), getattr(first, "data_max_", None)
    if mean is not None and scale is not None and np.shape(mean) == (n_features,):
        centre, spread = np.asarray(mean, float), np.asarray(scale, float)
    elif low is not None and high is not None and np.shape(low) == (n_features,):
        centre = (np.asarray(low, float) + np.asarray(high, float)) / 2
        spread = (np.asarray(high, float) - np.asarray(low, float)) / 2
    else:
        thresholds = _tree_thresholds(first, n_features)
        if thresholds is not None:
            centre, spread = thresholds
    spread = np.where(spread > 0, spread, 1.0)
    draws = generator.standard_normal((rows, n_features))
    draws[: rows // 4] *= 3  # a quarter of the rows well outside the usual range
    batch = centre + spread * draws
    batch[0] = centre  # the centre itself, exactly
    return batch.astype(np.float32)


def _tree_thresholds(model: Any, n_features: int) -> tuple[Any, Any] | None:
    """Centre and half-width of each feature's split thresholds in a tree model."""
    import numpy as np

    trees = getattr(model, "estimators_", None)
    if trees is None and hasattr(model, "tree_"):
        trees = [model]
    if trees is None:
        return None
    flat = np.asarray(trees, dtype=object).ravel()
    low, high = np.full(n_features, np.inf), np.full(n_features, -np.inf)
    for tree in flat:
        structure = getattr(tree, "tree_", None)
        if structure is None:
            continue
        used = structure.feature >= 0
        for feature, threshold in zip(
            structure.feature[used], structure.threshold[used], strict=True
        ):
            low[feature] = min(low[feature], threshold)
            high[feature] = max(high[feature], threshold)
    seen = np.isfinite(low)
    if not seen.any():
        return None
    centre = np.where(seen, (low + high) / 2, 0.0)
    spread = np.where(seen, np.maximum((high - low) / 2, 1e-3), 1.0)
    return centre, spread


def _convert(model: Any, n_features: int) -> Any:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    options = {id(_final_step(model)): {"zipmap": False}} if _is_classifier(model) else None
    try:
        return convert_sklearn(
            model,
            initial_types=[("input", FloatTensorType([None, n_features]))],
            options=options,
            target_opset=TARGET_OPSET,
        )
    except Exception as error:  # skl2onnx raises many kinds for what it cannot convert
        problem = f"{type(error).__name__}: {_first_line(error)}"
        raise ConversionFailed(f"skl2onnx cannot convert it ({problem})") from error


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0][:300] if text else type(error).__name__


def _check_parity(model: Any, onnx_bytes: bytes, rows: Any) -> tuple[str, dict[str, Any]]:
    """Run both models on ``rows``; the ONNX output name to serve and the figures."""
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    outputs = dict(zip(names, session.run(None, {"input": rows}), strict=True))
    figures: dict[str, Any] = {"rows": len(rows), "tolerance": TOLERANCE}
    if _is_classifier(model):
        if "probabilities" not in outputs or "label" not in outputs:
            raise ConversionFailed(f"the ONNX graph has no label and probabilities ({names})")
        expected_labels = np.asarray(model.predict(rows))
        labels = np.asarray(outputs["label"]).ravel()
        if labels.dtype.kind in "OSU":
            labels = labels.astype(str)
            expected_labels = expected_labels.astype(str)
        expected = np.asarray(model.predict_proba(rows), dtype=np.float64)
        scores = np.asarray(outputs["probabilities"], dtype=np.float64)
        output = "probabilities"
        # a tie (an even vote of a forest) has no right label: float noise picks one
        top = np.sort(expected, axis=1)
        ties = (
            top[:, -1] - top[:, -2] <= TOLERANCE if top.shape[1] > 1 else np.zeros(len(rows), bool)
        )
        differing = int(((labels != expected_labels) & ~ties).sum())
        figures["labels_equal"] = differing == 0
        figures["tie_rows"] = int(ties.sum())
        if differing:
            raise ConversionFailed(
                f"the ONNX graph gives other labels than the source model on {differing} of "
                f"{len(rows)} parity rows"
            )
    else:
        output = names[0]
        expected = np.asarray(model.predict(rows), dtype=np.float64).reshape(len(rows), -1)
        scores = np.asarray(outputs[output], dtype=np.float64).reshape(len(rows), -1)
        # regression values: the tolerance applies to values scaled to at most 1
        scale = np.maximum(1.0, np.abs(expected))
        expected, scores = expected / scale, scores / scale
        figures["relative"] = True
    if expected.shape != scores.shape:
        raise ConversionFailed(
            f"the ONNX graph gives scores of shape {scores.shape}, the source model "
            f"{expected.shape}"
        )
    gap = float(np.abs(expected - scores).max())
    figures["max_abs_diff"] = gap
    if not np.isfinite(gap) or gap > TOLERANCE:
        raise ConversionFailed(
            f"the ONNX graph's scores differ from the source model's by up to {gap:.2e} "
            f"(tolerance {TOLERANCE:g}) on {len(rows)} parity rows"
        )
    return output, figures


def _converter_version() -> str:
    import skl2onnx

    return f"skl2onnx {skl2onnx.__version__}"


def convert_to_onnx(model: Any, n_features: int) -> Conversion:
    """Convert a fitted scikit-learn estimator or pipeline and check it; never raises."""
    import importlib.util

    missing = [m for m in CONVERTER_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        reason = (
            f"{', '.join(missing)} not installed (pip install 'mlship[models]' converts "
            "scikit-learn models to ONNX)"
        )
        return _failed(reason, converter=None)
    converter = _converter_version()
    final = _final_step(model)
    if _is_classifier(model) and not hasattr(final, "predict_proba"):
        reason = f"{type(final).__name__} gives no class probabilities (predict_proba)"
        return _failed(reason, converter)
    try:
        with warnings.catch_warnings():  # deprecations of the source model's library
            warnings.simplefilter("ignore")
            onnx_model = _convert(model, n_features)
            onnx_bytes = onnx_model.SerializeToString()
            output, figures = _check_parity(model, onnx_bytes, parity_rows(model, n_features))
    except ConversionFailed as error:
        return _failed(str(error), converter)
    except Exception as error:  # the source model or onnxruntime failed on the rows
        return _failed(f"{type(error).__name__}: {_first_line(error)}", converter)
    record = {
        "status": "converted",
        "converter": converter,
        "target_opset": dict(TARGET_OPSET),
        "parity": figures,
    }
    return Conversion(onnx_bytes, output_name=output, record=record)


def _failed(reason: str, converter: str | None) -> Conversion:
    record: dict[str, Any] = {"status": "failed", "reason": reason}
    if converter is not None:
        record["converter"] = converter
    return Conversion(None, reason=reason, record=record)
