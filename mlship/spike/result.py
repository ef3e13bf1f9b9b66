"""The result of a spike: the ``--json`` contract and the ``result.json`` saved with a run.

``SCHEMA_VERSION`` changes whenever a field is renamed or removed; a test pins the keys.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

SCHEMA_VERSION = 1

Verdict = Literal["PASS", "FAIL"]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Latency(Model):
    """Exact order statistics of the measured latencies, in milliseconds."""

    min: float | None
    mean: float | None
    p50: float | None
    p90: float | None
    p95: float | None
    p99: float | None
    p99_9: float | None
    max: float | None


class Schedule(Model):
    """How well the open model kept its schedule (absent for the closed model)."""

    offered_rps: float
    scheduled: int
    late: int
    dropped: int
    late_threshold_ms: float
    max_outstanding: int


class InvalidShare(Model):
    """How the service handled the deliberately invalid bodies."""

    share: float
    sent: int
    rejected_4xx: int
    accepted_2xx: int
    server_errors_5xx: int
    other_errors: int


class Second(Model):
    """One second of the run: latency by send time, throughput by completion time."""

    t: int
    sent: int
    completed: int
    errors: int
    p50: float | None
    p90: float | None
    p99: float | None
    max: float | None


class Histogram(Model):
    """Latency distribution on log-spaced bins (``edges`` has one more entry than ``counts``)."""

    edges_ms: list[float]
    counts: list[int]


class Stats(Model):
    requests: int
    ok: int
    errors: int
    error_rate: float
    duration_s: float
    rps: float
    ok_rps: float
    sustained_rps: float
    latency_ms: Latency
    errors_by_kind: dict[str, int]
    schedule: Schedule | None
    invalid: InvalidShare | None
    timeseries: list[Second]
    histogram: Histogram


class BudgetUsed(Model):
    p99_ms: float | None
    max_error_rate: float | None
    min_rps: float | None
    source: dict[str, str]


class Criterion(Model):
    name: str
    limit: float
    measured: float | None
    passed: bool
    reason: str


class CapacityStep(Model):
    rate: float
    requests: int
    rps: float
    p50_ms: float | None
    p99_ms: float | None
    error_rate: float
    late: int
    dropped: int
    sustainable: bool
    reason: str


class Capacity(Model):
    sustainable_rps: float | None
    limited_by: str
    steps: list[CapacityStep]
    elapsed_s: float


class Target(Model):
    url: str
    path: str
    project: str | None
    started_by_spike: bool


class Profile(Model):
    kind: Literal["closed", "open", "capacity"]
    description: str
    users: int | None = None
    spawn_rate: float | None = None
    rate: float | None = None
    duration_s: float | None = None
    arrivals: str | None = None
    workers: int
    timeout_s: float
    invalid_share: float
    payloads: str


class SpikeResult(Model):
    schema_version: int = SCHEMA_VERSION
    started: str
    target: Target
    profile: Profile
    stats: Stats
    capacity: Capacity | None
    budget: BudgetUsed
    verdict: Verdict | None
    criteria: list[Criterion]
    notes: list[str]
    artifacts: dict[str, str]
