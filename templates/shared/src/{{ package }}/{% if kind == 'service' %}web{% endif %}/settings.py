"""Settings every HTTP service shares: address, limits, admission and drain."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..settings import AppSettings


class HttpSettings(AppSettings):
    """``APP_*`` variables or ``settings.yaml`` keys; see the project's settings.yaml."""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    latency_budget_ms: float = Field(100.0, gt=0, description="p99 budget of one request")
    admission: Literal["budget", "concurrency"] = Field(
        "budget",
        description="budget: admit a request only when the work ahead of it, at the measured "
        "service rate, lets it finish within admission_target_ms; concurrency: only the "
        "max_concurrency cap",
    )
    admission_target_ms: float | None = Field(
        None,
        gt=0,
        description="expected time in the service a request may face to be admitted; default "
        "half the latency budget (the rest covers variance, network and the client)",
    )
    max_concurrency: int = Field(
        128, ge=1, description="in-flight inference requests per process; more get 503"
    )
    max_body_bytes: int = Field(1_048_576, ge=1024, description="larger bodies get 413")
    request_timeout_s: float | None = Field(
        None, gt=0, description="per request; default 20 x the budget, at least 1 s; then 504"
    )
    retry_after_s: int = Field(1, ge=0, description="the smallest Retry-After on a 503")
    drain_timeout_s: float = Field(
        30.0, ge=0, description="on SIGTERM: time left to requests and keep-alive connections"
    )
    access_log: bool = Field(False, description="one log line per request (errors always)")

    def timeout_s(self) -> float:
        return self.request_timeout_s or max(1.0, 20 * self.latency_budget_ms / 1000)

    def admission_target_s(self) -> float:
        return (self.admission_target_ms or self.latency_budget_ms / 2) / 1000
