"""Settings of the HTTP service; every limit is explicit, and derived defaults say from what."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..settings import AppSettings, available_cores


class ServingSettings(AppSettings):
    """``APP_*`` variables or ``settings.yaml`` keys; see settings.example.yaml."""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    workers: int | None = Field(None, ge=1, description="processes; default cores // 4, at least 1")
    inference_threads: int | None = Field(
        None,
        ge=1,
        description="model-call threads per process; default cores // workers - 1 (one core "
        "stays with the event loop), at least 1",
    )
    max_concurrency: int = Field(
        128, ge=1, description="in-flight inference requests per process; more are shed with 503"
    )
    max_body_bytes: int = Field(1_048_576, ge=1024, description="larger bodies get 413")
    max_instances: int = Field(1024, ge=1, description="instances per request; more get 413")
    latency_budget_ms: float = Field(100.0, gt=0, description="p99 budget: buckets, batch wait")
    request_timeout_s: float | None = Field(
        None, gt=0, description="per request; default 20 x the budget, at least 1 s"
    )
    micro_batching: Literal["auto", "on", "off"] = Field(
        "auto", description="auto: on for runtimes that gain from it (ONNX graphs, torch)"
    )
    max_batch_size: int = Field(64, ge=1, description="rows per model call when batching")
    max_batch_wait_ms: float = Field(
        0.0,
        ge=0,
        description="extra wait for a fuller batch when a thread is free; capped at budget / 10. "
        "0: batches form only while the model is busy, which adds no latency",
    )
    drain_timeout_s: float = Field(30.0, ge=0, description="graceful shutdown: wait for requests")
    retry_after_s: int = Field(1, ge=0, description="Retry-After header on 503")
    drift_window: int = Field(1000, ge=10, description="recent scores compared with the baseline")
    access_log: bool = Field(False, description="one log line per successful request")
    tracing: bool = Field(False, description="OpenTelemetry traces (needs the otel extra)")
    otlp_endpoint: str | None = Field(None, description="OTLP/HTTP traces endpoint")

    def worker_count(self) -> int:
        return self.workers or max(1, available_cores() // 4)

    def thread_count(self) -> int:
        return self.inference_threads or max(1, available_cores() // self.worker_count() - 1)

    def timeout_s(self) -> float:
        return self.request_timeout_s or max(1.0, 20 * self.latency_budget_ms / 1000)

    def batch_wait_s(self) -> float:
        return min(self.max_batch_wait_ms, self.latency_budget_ms / 10) / 1000
