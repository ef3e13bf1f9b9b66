"""The inference core: a verified model plus pre- and post-processing.

Transports call :meth:`Predictor.to_array` (validation), :meth:`Predictor.run` (one model
call, thread-safe, may be batched across requests) and :meth:`Predictor.postprocess`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..settings import AppSettings
from . import device as devices
from .errors import ModelLoadError
from .manifest import Manifest, load_manifest, verify_artifact
from .runtimes import Runtime, load_runtime
from .schema import InputSchema

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelInfo:
    name: str
    version: str
    framework: str
    sha256: str
    device: str


class Predictor:
    """Validation, model call and post-processing for one loaded model."""

    def __init__(self, manifest: Manifest, runtime: Runtime) -> None:
        self.manifest = manifest
        self.runtime = runtime
        self.schema = InputSchema(manifest.input)
        self.classes: list[Any] | None = manifest.output.classes
        self.is_classifier = manifest.task == "classification" or self.classes is not None
        self.info = ModelInfo(
            name=manifest.name,
            version=manifest.version,
            framework=manifest.framework,
            sha256=manifest.sha256,
            device=runtime.info.device,
        )

    @property
    def gains_from_batching(self) -> bool:
        return self.runtime.gains_from_batching

    def to_array(self, instances: Any) -> np.ndarray:
        return self.schema.to_array(instances)

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Raw scores for a validated batch (rows x features)."""
        scores = self.runtime.run(batch)
        if scores.ndim == 1 and self.is_classifier:
            raise ModelLoadError("a classifier must return one score per class")
        return scores

    def drift_scores(self, scores: np.ndarray) -> np.ndarray:
        """One number per row for drift: positive-class or top score, or the value."""
        if scores.ndim == 1:
            return scores
        if scores.shape[1] == 2:
            return scores[:, 1]
        if scores.shape[1] == 1:
            return scores[:, 0]
        return np.asarray(scores.max(axis=1))

    def postprocess(self, scores: np.ndarray) -> list[dict[str, Any]]:
        """JSON-ready predictions: label and class scores, or a value for regression."""
        if not self.is_classifier:
            flat = scores.reshape(len(scores), -1)
            if flat.shape[1] == 1:
                return [{"value": v} for v in flat[:, 0].tolist()]
            return [{"value": row} for row in flat.tolist()]
        indices = scores.argmax(axis=1).tolist()
        classes = self.classes
        labels = [classes[i] for i in indices] if classes else indices
        return [
            {"label": label, "scores": row}
            for label, row in zip(labels, scores.tolist(), strict=True)
        ]

    def predict(self, instances: Any) -> list[dict[str, Any]]:
        """Validate, run and post-process in one call (for jobs, scripts and tests)."""
        return self.postprocess(self.run(self.to_array(instances)))

    def warm_up(self, runs: int) -> float:
        """Call the model on representative batch sizes so the first request is not slow."""
        if runs <= 0:
            return 0.0
        started = time.perf_counter()
        width = self.schema.n_features
        for size in (1, 8, 1)[: max(runs, 1)] + (1,) * max(0, runs - 3):
            self.run(np.zeros((size, width), dtype=np.float32))
        return time.perf_counter() - started


def load_predictor(settings: AppSettings) -> Predictor:
    """Load the manifest, verify the file's sha256, start the runtime, warm it up."""
    manifest = load_manifest(settings.models_dir)
    path = verify_artifact(manifest, settings.models_dir)
    runtime = load_runtime(path, manifest, settings)
    devices.log_device(runtime.info, manifest.framework)
    predictor = Predictor(manifest, runtime)
    seconds = predictor.warm_up(settings.warmup_runs)
    log.info(
        "model %s %s loaded from %s, sha256 verified, warmed up in %.1f ms",
        manifest.name,
        manifest.version,
        path.name,
        seconds * 1000,
        extra={"model": manifest.name, "model_version": manifest.version},
    )
    return predictor
