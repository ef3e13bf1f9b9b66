"""The result of a spike: the ``--json`` contract and the ``result.json`` saved with a run.

One shape for every pattern: ``kind`` says which load ran (``service``: requests,
``consumer``: events through a broker, ``job``: rows through a batch job, ``export``: the
exported model variants), and the figures sit in ``stats`` (requests or events), ``batch``
or ``edge``; ``stream`` adds what only a consumer has. ``SCHEMA_VERSION`` changes whenever
a field is renamed or removed; a test pins the keys. Version 1 results (services only)
still load.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

SCHEMA_VERSION = 2

Verdict = Literal["PASS", "FAIL"]
Kind = Literal["service", "job", "consumer", "export"]


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
    """The budget judged, where each criterion came from, and the throughput's unit."""

    p99_ms: float | None
    max_error_rate: float | None
    min_rps: float | None
    max_memory_mb: float | None = None
    max_model_mb: float | None = None
    max_lag: int | None = None
    unit: str = "req/s"
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
    """Where the load went: a URL (services), a broker (consumers), a project folder."""

    url: str | None
    path: str | None
    project: str | None
    started_by_spike: bool


class Profile(Model):
    """The load's shape: open or closed model, a capacity search, rows, variants."""

    kind: Literal["closed", "open", "capacity", "rows", "variants"]
    description: str
    users: int | None = None
    spawn_rate: float | None = None
    rate: float | None = None
    duration_s: float | None = None
    arrivals: str | None = None
    rows: int | None = None
    threads: int | None = None
    workers: int = 1
    timeout_s: float | None = None
    invalid_share: float = 0.0
    payloads: str = ""


class BatchPart(Model):
    """One part of a batch run: its rows, how long it took, when it was done."""

    name: str
    records: int
    rejected: int
    seconds: float
    rows_per_s: float
    done_at_s: float | None


class BatchSecond(Model):
    """One second of a batch run: rows finished so far, the rate, the memory then."""

    t: int
    rows_done: int
    rows_per_s: float
    memory_mb: float | None


class BatchStats(Model):
    """A batch job's run: rows, rejects, throughput (job's own and wall clock), memory."""

    rows: int
    scored: int
    rejected: int
    reject_rate: float
    planted_bad: int
    unexpected_rejects: int
    error_rate: float
    job_seconds: float
    wall_seconds: float
    rows_per_s: float
    wall_rows_per_s: float
    peak_memory_mb: float | None
    memory_measure: str
    processes: int
    exit_code: int
    status: str | None
    parts: list[BatchPart]
    timeseries: list[BatchSecond]
    projected_run_s: float | None
    window_s: float | None


class StreamStats(Model):
    """What only a consumer has: predictions read back, dead letters, lag at the end."""

    bootstrap: str
    input_topic: str
    output_topic: str
    dlq_topic: str
    produced: int
    predictions: int
    duplicates: int
    dead_lettered: int
    missing: int
    dlq_rate: float
    end_lag: int | None
    lag_detail: str
    broker_started_by_spike: bool
    consumer_stopped_at_s: float | None = None


class EdgeCase(Model):
    """One variant at one call size: latency measured here and on the device."""

    rows: int
    runs: int
    p50_ms: float
    p99_ms: float
    device_p99_ms: float


class EdgeVariant(Model):
    name: str
    file: str
    shipped: bool
    size_mb: float
    memory_mb: float | None
    cases: list[EdgeCase]
    verdict: Verdict | None
    criteria: list[Criterion]


class EdgeStats(Model):
    """The exported variants run with the target device's threads and call sizes."""

    target: str
    threads: int
    device_factor: float
    factor_source: str
    latency: Literal["measured", "estimated"]
    shipped: str
    exported: str | None
    variants: list[EdgeVariant]


class SpikeResult(Model):
    schema_version: int = SCHEMA_VERSION
    started: str
    pattern: str | None = None
    kind: Kind = "service"
    interrupted: bool = False
    target: Target
    profile: Profile
    stats: Stats | None
    batch: BatchStats | None = None
    stream: StreamStats | None = None
    edge: EdgeStats | None = None
    capacity: Capacity | None
    budget: BudgetUsed
    verdict: Verdict | None
    criteria: list[Criterion]
    notes: list[str]
    artifacts: dict[str, str]
