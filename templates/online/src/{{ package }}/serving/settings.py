"""Settings of the HTTP service; every limit is explicit, and derived defaults say from what."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..settings import available_cores
from ..web.settings import HttpSettings


class ServingSettings(HttpSettings):
    """``APP_*`` variables or ``settings.yaml`` keys; see settings.yaml."""

    workers: int | None = Field(None, ge=1, description="processes; default cores // 4, at least 1")
    inference_threads: int | None = Field(
        None,
        ge=1,
        description="model-call threads per process; default cores // workers - 1 (one core "
        "stays with the event loop), at least 1",
    )
    max_instances: int = Field(1024, ge=1, description="instances per request; more get 422")
    micro_batching: Literal["auto", "on", "off"] = Field(
        "auto", description="auto: on for runtimes that gain from it (ONNX, torch, scikit-learn)"
    )
    max_batch_size: int = Field(64, ge=1, description="rows per model call when batching")
    max_batch_wait_ms: float = Field(
        0.0,
        ge=0,
        description="extra wait for a fuller batch when a thread is free; capped at budget / 10. "
        "0: batches form only while the model is busy, which adds no latency",
    )
    inline_call_us: float = Field(
        100.0,
        ge=0,
        description="a call of a few rows measured under this runs on the event loop when no "
        "other call is in flight (a thread hand-off costs more); 0: always on the pool",
    )
    drift_window: int = Field(1000, ge=10, description="recent scores compared with the baseline")
    tracing: bool = Field(False, description="OpenTelemetry traces (needs the otel extra)")
    otlp_endpoint: str | None = Field(None, description="OTLP/HTTP traces endpoint")

    def worker_count(self) -> int:
        return self.workers or max(1, available_cores() // 4)

    def thread_count(self) -> int:
        return self.inference_threads or max(1, available_cores() // self.worker_count() - 1)

    def batch_wait_s(self) -> float:
        return min(self.max_batch_wait_ms, self.latency_budget_ms / 10) / 1000
