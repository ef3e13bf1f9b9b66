"""Prometheus metrics of the consumer (names are a contract with alerts and dashboards).

``stream_*`` describe the flow of events, ``model_*`` the model, with the same names and
meanings as in mlship's online services so one dashboard row fits both.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector

from ..inference.predictor import ModelInfo
from .events import REASONS

_LATENCY_FACTORS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0, 10.0, 60.0)
_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)


class ArrayHistogram(Collector):
    """A histogram fed whole arrays at once (one numpy call per batch, not one per event).

    At tens of thousands of events per second, ``Histogram.observe`` per event costs more
    than the model; this keeps the same exposition format and bucket semantics.
    """

    def __init__(
        self, name: str, documentation: str, buckets: list[float], registry: CollectorRegistry
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.bounds = np.asarray(sorted(buckets), dtype=np.float64)
        self._counts = np.zeros(len(self.bounds) + 1, dtype=np.int64)  # last: above every bound
        self._sum = 0.0
        self._lock = threading.Lock()
        registry.register(self)

    def observe_many(self, values: np.ndarray) -> None:
        if len(values) == 0:
            return
        slots = np.searchsorted(self.bounds, values, side="left")  # le semantics
        counts = np.bincount(slots, minlength=len(self._counts))
        with self._lock:
            self._counts += counts
            self._sum += float(values.sum())

    def collect(self) -> Iterator[HistogramMetricFamily]:
        with self._lock:
            cumulative = np.cumsum(self._counts).tolist()
            total = self._sum
        buckets = [(repr(float(b)), c) for b, c in zip(self.bounds, cumulative, strict=False)]
        buckets.append(("+Inf", cumulative[-1]))
        family = HistogramMetricFamily(self.name, self.documentation)
        family.add_metric([], buckets, total)
        yield family


class StreamMetrics:
    """Every metric the consumer exports, in its own registry."""

    def __init__(self, budget_s: float, max_batch: int, score_edges: list[float] | None) -> None:
        self.registry = reg = CollectorRegistry()
        self.consumed = Counter(
            "stream_events_consumed_total",
            "events read from the input topic",
            ["topic"],
            registry=reg,
        )
        self.produced = Counter(
            "stream_predictions_produced_total",
            "predictions acknowledged by the broker",
            ["model_version"],
            registry=reg,
        )
        self.dead_lettered = Counter(
            "stream_dead_letters_total",
            "events sent to the dead-letter topic",
            ["reason"],
            registry=reg,
        )
        self.produce_errors = Counter(
            "stream_produce_errors_total", "outputs the broker refused for good", registry=reg
        )
        self.producer_restarts = Counter(
            "stream_producer_restarts_total",
            "producers replaced after acknowledgements stalled with a broker reachable",
            registry=reg,
        )
        self.model_failures = Counter(
            "stream_model_failures_total",
            "batches the model failed as a whole (held and retried, not dead-lettered)",
            registry=reg,
        )
        self.commits = Counter("stream_commits_total", "offset commits", ["result"], registry=reg)
        self.rebalances = Counter(
            "stream_rebalances_total",
            "partition assignments and revocations",
            ["kind"],
            registry=reg,
        )
        self.batch_size = Histogram(
            "stream_batch_size",
            "events per consumed batch",
            buckets=[s for s in _SIZES if s < max_batch] + [max_batch],
            registry=reg,
        )
        self.batch_duration = Histogram(
            "stream_batch_duration_seconds",
            "decode, validate, score and hand one batch to the producer",
            buckets=[round(budget_s * f / 10, 6) for f in _LATENCY_FACTORS],
            registry=reg,
        )
        self.end_to_end = ArrayHistogram(
            "stream_end_to_end_latency_seconds",
            "event timestamp to prediction acknowledged by the broker",
            [round(budget_s * f, 6) for f in _LATENCY_FACTORS],
            reg,
        )
        self.lag = Gauge(
            "stream_consumer_lag",
            "messages behind the end of the partition",
            ["topic", "partition"],
            registry=reg,
        )
        self.in_flight = Gauge(
            "stream_in_flight_batches", "batches produced but not yet acknowledged", registry=reg
        )
        self.paused = Gauge("stream_consumer_paused", "1 while partitions are paused", registry=reg)
        self.pauses = Counter(
            "stream_pauses_total",
            "times partitions were paused: backpressure or a failing model",
            ["cause"],
            registry=reg,
        )
        self.broker_up = Gauge(
            "stream_broker_connected", "1 while a broker connection is up", registry=reg
        )
        self.assigned = Gauge(
            "stream_assigned_partitions", "input partitions this consumer owns", registry=reg
        )
        self.predictions = Counter(
            "model_predictions_total", "rows predicted", ["model_version"], registry=reg
        )
        self.inference = Histogram(
            "model_inference_duration_seconds",
            "duration of one model call",
            ["model_version"],
            buckets=[round(budget_s * f / 10, 6) for f in _LATENCY_FACTORS],
            registry=reg,
        )
        self.model_batch = Histogram(
            "model_batch_size",
            "rows per model call",
            buckets=[s for s in _SIZES if s < max_batch] + [max_batch],
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
        )
        self.ready = Gauge(
            "model_ready",
            "1 while the model is loaded and scoring (0 while it fails)",
            registry=reg,
        )
        self.info = Gauge(
            "model_info",
            "the model being served",
            ["name", "version", "framework", "sha256", "device"],
            registry=reg,
        )
        for reason in REASONS:
            self.dead_lettered.labels(reason)
        for result in ("ok", "failed"):
            self.commits.labels(result)
        for cause in ("in_flight", "producer_queue", "model"):
            self.pauses.labels(cause)
        for kind in ("assign", "revoke", "lost"):
            self.rebalances.labels(kind)

    def model_loaded(self, info: ModelInfo) -> None:
        self.info.labels(info.name, info.version, info.framework, info.sha256, info.device).set(1)
        self.predictions.labels(info.version)
        self.produced.labels(info.version)
        self.inference.labels(info.version)
        self.ready.set(1)
