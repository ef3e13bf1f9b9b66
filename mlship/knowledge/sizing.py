"""Rough sizing figures (``mlship/data/sizing.yaml``) behind warnings and stack suggestions.

The figures are data, not code, so they can be corrected without touching the engine;
they are validated like every other YAML file mlship reads.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlship.errors import KnowledgeBaseError
from mlship.resources import data_file
from mlship.validation import describe_validation_error
from mlship.yaml_io import load_yaml

Pos = Annotated[float, Field(gt=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Cost(_Strict):
    base_ms: Pos
    ms_per_mb: Pos


class LatencyFigures(_Strict):
    cpu: Cost
    gpu: Cost
    stage_handoff_ms: Pos
    device_slowdown: Pos
    default_size_mb: Pos


class Throughput(_Strict):
    cpu_workers_per_replica: Annotated[int, Field(gt=0)]
    cpu_replica_rps_cap: Pos
    gpu_replica_rps_cap: Pos
    gpu_batch: Annotated[int, Field(gt=0)]
    headroom: Annotated[float, Field(ge=0, le=5)]


class GpuFigures(_Strict):
    activation_overhead: Annotated[float, Field(ge=1)]
    reserved_gb: Annotated[float, Field(ge=0)]


class DeviceFigures(_Strict):
    model_memory_share: Annotated[float, Field(gt=0, le=1)]
    comfortable_size_mb: dict[str, Pos]


class ServingFigures(_Strict):
    gpu_high_rps: Pos
    many_models_stages: Annotated[int, Field(ge=2)]


class NetworkFigures(_Strict):
    server_round_trip_ms: Pos
    device_round_trip_ms: Pos


class RowCost(_Strict):
    cpu: Pos
    gpu: Pos


class BatchFigures(_Strict):
    machine_cores: Annotated[int, Field(gt=0)]
    row_overhead_ms: Pos
    row_ms_per_mb: RowCost
    default_window_minutes: Pos


class BudgetFigures(_Strict):
    max_error_rate: Annotated[float, Field(ge=0, le=1)]
    p99_ms: Pos


class Sizing(_Strict):
    latency: LatencyFigures
    throughput: Throughput
    gpu: GpuFigures
    device: DeviceFigures
    network: NetworkFigures
    batch: BatchFigures
    large_model_mb: Pos
    serving: ServingFigures
    budget: BudgetFigures
    close_call: Annotated[float, Field(ge=0, le=1)]
    low_confidence: Annotated[float, Field(ge=0, le=1)]


@cache
def load_sizing() -> Sizing:
    """The shipped sizing table, validated once per process."""
    source = data_file("sizing.yaml")
    try:
        return Sizing.model_validate(load_yaml(source.read_text(encoding="utf-8")))
    except ValidationError as error:
        problems = "".join(f"\n  {line}" for line in describe_validation_error(error))
        raise KnowledgeBaseError(f"invalid data file {source}:{problems}") from None
