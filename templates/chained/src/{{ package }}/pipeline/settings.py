"""Settings of the pipeline service (``APP_*`` environment variables or ``settings.yaml``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from ..web.settings import HttpSettings


class PipelineSettings(HttpSettings):
    pipeline_file: Path = Field(Path("pipeline.yaml"), description="the stages and their policy")
    deadline_ms: float | None = Field(
        None, gt=0, description="end-to-end deadline per request; null = the latency budget"
    )
    split: bool = Field(
        False, description="call stages that declare an endpoint remotely (one service each)"
    )
    endpoints: dict[str, str] = Field(
        default_factory=dict, description="stage -> base URL, overriding pipeline.yaml"
    )
    serve_stage: str | None = Field(
        None, description="serve only this stage's model over /v1/predict (a split service)"
    )
    max_instances: int = Field(256, ge=1, description="instances per request; more get 422")
    max_text_chars: int = Field(2000, ge=1)
    stage_threads: int = Field(4, ge=1, description="threads running in-process model calls")
    probe_interval_s: float = Field(2.0, gt=0, description="how often remote stages are probed")
    drain_timeout_s: float = Field(
        10.0, ge=0, description="on SIGTERM: time left to requests and keep-alive connections"
    )
    tracing: bool = Field(False, description="OpenTelemetry spans per stage (extra 'otel')")

    def request_deadline_ms(self) -> float:
        return self.deadline_ms if self.deadline_ms is not None else self.latency_budget_ms
