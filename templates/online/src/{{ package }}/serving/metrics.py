"""Prometheus metrics of the service (names are a contract with alerts and dashboards).

Each app gets its own registry, so tests can build many apps in one process. With several
uvicorn workers, ``PROMETHEUS_MULTIPROC_DIR`` (set by the runner) makes /metrics aggregate
every worker. The HTTP metrics are the shared ones of :mod:`..web.metrics`.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from ..inference.predictor import ModelInfo
from ..web.metrics import HttpMetrics

_INFERENCE_FACTORS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0)


def multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class Metrics:
    """Every metric the service exports, registered in one registry."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, budget_s: float, max_batch: int, score_edges: list[float] | None) -> None:
        self.registry = CollectorRegistry()
        reg = self.registry
        self.http = HttpMetrics(reg, budget_s)
        self.predictions = Counter(
            "model_predictions_total", "rows predicted", ["model_version"], registry=reg
        )
        self.inference = Histogram(
            "model_inference_duration_seconds",
            "duration of one model call",
            ["model_version"],
            buckets=[round(budget_s * f, 6) for f in _INFERENCE_FACTORS],
            registry=reg,
        )
        sizes = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
        self.batch_size = Histogram(
            "model_batch_size",
            "rows per model call",
            buckets=[s for s in sizes if s < max_batch] + [max_batch],
            registry=reg,
        )
        self.score = Histogram(
            "model_prediction_score",
            "score of the positive or top class (or the predicted value)",
            buckets=score_edges[1:] if score_edges else [i / 10 for i in range(1, 11)],
            registry=reg,
        )
        self.drift = Gauge(
            "model_drift_psi",
            "population stability index of recent scores against the manifest baseline",
            ["model_version"],
            registry=reg,
            multiprocess_mode="max",
        )
        self.ready = Gauge(
            "model_ready",
            "1 once the model is loaded, verified and warm",
            registry=reg,
            multiprocess_mode="min",
        )
        self.info = Gauge(
            "model_info",
            "the model being served",
            ["name", "version", "framework", "sha256", "device"],
            registry=reg,
            multiprocess_mode="max",
        )

    def model_loaded(self, info: ModelInfo) -> None:
        self.info.labels(info.name, info.version, info.framework, info.sha256, info.device).set(1)
        self.predictions.labels(info.version)
        self.ready.set(1)

    def render(self) -> bytes:
        if multiprocess():
            from prometheus_client import multiprocess as mp

            registry = CollectorRegistry()
            mp.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)
