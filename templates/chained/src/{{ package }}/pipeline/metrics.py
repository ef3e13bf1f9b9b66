"""Prometheus metrics of the pipeline; alert rules and the dashboard use exactly these names.

The HTTP metrics are the shared ones of :mod:`..web.metrics`.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from ..web.metrics import HttpMetrics


def latency_buckets(budget_ms: float) -> tuple[float, ...]:
    """Buckets in seconds, dense around the budget so its p99 can be read off."""
    budget = budget_ms / 1000.0
    factors = (0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0)
    return tuple(round(budget * f, 6) for f in factors)


class Metrics:
    """One instance per process; label values are stage names from pipeline.yaml."""

    def __init__(self, budget_ms: float, registry: CollectorRegistry = REGISTRY) -> None:
        """``registry``: a private one lets tests build several services in one process."""
        self.registry = registry
        buckets = latency_buckets(budget_ms)
        reg = registry
        self.http = HttpMetrics(registry, budget_ms / 1000.0)
        self.stage_duration = Histogram(
            "pipeline_stage_duration_seconds",
            "Time in one stage, retries and backoff included",
            ["stage", "location"],
            buckets=buckets,
            registry=reg,
        )
        self.stage_errors = Counter(
            "pipeline_stage_errors_total",
            "Failed stage attempts (reason: timeout|unavailable|error|circuit_open|deadline)",
            ["stage", "reason"],
            registry=reg,
        )
        self.stage_retries = Counter(
            "pipeline_stage_retries_total",
            "Stage attempts after the first",
            ["stage"],
            registry=reg,
        )
        self.fallbacks = Counter(
            "pipeline_stage_fallbacks_total",
            "Stage outputs replaced by the fallback (skip|default) or failing the request (fail)",
            ["stage", "fallback"],
            registry=reg,
        )
        self.circuit_state = Gauge(
            "pipeline_circuit_state", "0 closed, 1 half-open, 2 open", ["stage"], registry=reg
        )
        self.circuit_opened = Counter(
            "pipeline_circuit_opened_total",
            "Times a stage's circuit opened",
            ["stage"],
            registry=reg,
        )
        self.deadline_exceeded = Counter(
            "pipeline_deadline_exceeded_total",
            "Requests whose end-to-end deadline ran out",
            registry=reg,
        )
        self.stage_ready = Gauge(
            "pipeline_stage_ready", "1 when the stage can answer", ["stage"], registry=reg
        )
        self.model_info = Gauge(
            "model_info",
            "The model each stage serves",
            ["stage", "name", "version", "framework", "sha256", "location"],
            registry=reg,
        )
        self.predictions = Counter(
            "model_predictions_total", "Rows predicted", ["stage", "model_version"], registry=reg
        )
