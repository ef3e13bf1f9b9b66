"""``pipeline.yaml``: the stages, their inputs and their failure policy, checked at start.

Errors name the stage and the field: an unknown stage, a cycle, a missing input or a policy
that cannot work (a timeout longer than the deadline) stop the start with exit code 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

REQUEST_PREFIX = "request."
REQUEST_FIELDS = ("text",)
ADAPTERS = ("text_classifier", "token_tagger")


class SpecError(Exception):
    """The pipeline declaration cannot run; the message says where and why."""


class Circuit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    failures: int = Field(5, ge=1, description="consecutive failures that open the circuit")
    reset_s: float = Field(5.0, gt=0, description="how long it stays open before one probe")


class StageSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    adapter: Literal["text_classifier", "token_tagger"]
    model: str | None = Field(None, description="folder under models/ for an in-process model")
    endpoint: str | None = Field(None, description="base URL of a service speaking v1 or v2")
    protocol: Literal["v1", "v2"] = Field("v1", description="how the endpoint is called")
    inputs: list[str] = Field(min_length=1)
    timeout_ms: float = Field(gt=0)
    attempt_timeout_ms: float | None = Field(
        None, gt=0, description="cap on one attempt, so a retry fits in timeout_ms"
    )
    retries: int = Field(0, ge=0, le=10)
    backoff_ms: float = Field(5.0, ge=0, description="first retry waits up to this (full jitter)")
    backoff_max_ms: float = Field(100.0, ge=0)
    fallback: Literal["skip", "default", "fail"] = "fail"
    default: Any = None
    circuit: Circuit = Circuit()

    @model_validator(mode="after")
    def _check(self) -> StageSpec:
        if self.model is None and self.endpoint is None:
            raise ValueError("give a model (in-process) or an endpoint (remote), or both")
        if self.attempt_timeout_ms is not None and self.attempt_timeout_ms > self.timeout_ms:
            raise ValueError("attempt_timeout_ms must not exceed timeout_ms")
        if self.fallback == "default" and self.default is None:
            raise ValueError("fallback 'default' needs a default value")
        if self.endpoint is not None and not self.endpoint.startswith(("http://", "https://")):
            raise ValueError(f"endpoint {self.endpoint!r} must start with http:// or https://")
        return self

    @property
    def stage_inputs(self) -> list[str]:
        return [i for i in self.inputs if not i.startswith(REQUEST_PREFIX)]


class PipelineSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    version: str
    stages: list[StageSpec] = Field(min_length=1)

    def stage(self, name: str) -> StageSpec:
        return next(s for s in self.stages if s.name == name)


def check_graph(spec: PipelineSpec) -> list[str]:
    """Validate names and edges; return the stages in a dependency order."""
    names = [s.name for s in spec.stages]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SpecError(f"stage names must be unique: {', '.join(duplicates)} appear twice")
    for stage in spec.stages:
        for ref in stage.inputs:
            if ref.startswith(REQUEST_PREFIX):
                if ref[len(REQUEST_PREFIX) :] not in REQUEST_FIELDS:
                    raise SpecError(
                        f"stage {stage.name!r}: input {ref!r} is not a request field "
                        f"(allowed: {', '.join(REQUEST_PREFIX + f for f in REQUEST_FIELDS)})"
                    )
            elif ref == stage.name:
                raise SpecError(f"stage {stage.name!r}: takes its own output as input (a cycle)")
            elif ref not in names:
                raise SpecError(
                    f"stage {stage.name!r}: input {ref!r} is an unknown stage "
                    f"(stages: {', '.join(names)})"
                )
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            cycle = [*path[path.index(name) :], name]
            raise SpecError(f"stages form a cycle: {' -> '.join(cycle)}")
        state[name] = "visiting"
        for dep in spec.stage(name).stage_inputs:
            visit(dep, [*path, name])
        state[name] = "done"
        order.append(name)

    for name in names:
        visit(name, [])
    for stage in spec.stages:
        _check_adapter_inputs(stage, spec)
    return order


def _check_adapter_inputs(stage: StageSpec, spec: PipelineSpec) -> None:
    text = f"{REQUEST_PREFIX}text"
    if text not in stage.inputs:
        raise SpecError(f"stage {stage.name!r}: adapter {stage.adapter} needs input {text!r}")
    upstream = stage.stage_inputs
    if stage.adapter == "text_classifier" and upstream:
        raise SpecError(f"stage {stage.name!r}: a text_classifier takes only {text!r}")
    if stage.adapter == "token_tagger":
        if len(upstream) != 1:
            raise SpecError(
                f"stage {stage.name!r}: a token_tagger needs exactly one upstream "
                "text_classifier stage among its inputs (its condition)"
            )
        names = [s.name for s in spec.stages]
        if upstream[0] in names and spec.stage(upstream[0]).adapter != "text_classifier":
            raise SpecError(
                f"stage {stage.name!r}: its condition {upstream[0]!r} must be a text_classifier"
            )


def load_spec(path: Path) -> tuple[PipelineSpec, list[str]]:
    """Read, validate and order the pipeline; raise :class:`SpecError` naming the problem."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise SpecError(f"{path}: cannot read the pipeline file ({error.strerror})") from error
    except yaml.YAMLError as error:
        raise SpecError(f"{path}: not valid YAML ({error})") from error
    try:
        spec = PipelineSpec.model_validate(raw)
    except ValidationError as error:
        problems = []
        for e in error.errors():
            loc = list(e["loc"])
            if len(loc) >= 2 and loc[0] == "stages" and isinstance(loc[1], int):
                stages = raw.get("stages") if isinstance(raw, dict) else None
                if isinstance(stages, list) and loc[1] < len(stages):
                    name = stages[loc[1]].get("name") if isinstance(stages[loc[1]], dict) else None
                    loc[1] = f"{loc[1]} ({name})" if name else loc[1]
            problems.append(f"{'.'.join(str(p) for p in loc)}: {e['msg']}")
        raise SpecError(f"{path}: " + "; ".join(problems)) from error
    try:
        return spec, check_graph(spec)
    except SpecError as error:
        raise SpecError(f"{path}: {error}") from error


def downstream_ms(spec: PipelineSpec) -> dict[str, float]:
    """For each stage, the longest chain of timeouts that still has to run after it."""
    dependents: dict[str, list[str]] = {s.name: [] for s in spec.stages}
    for stage in spec.stages:
        for dep in stage.stage_inputs:
            dependents[dep].append(stage.name)
    memo: dict[str, float] = {}

    def tail(name: str) -> float:
        if name not in memo:
            memo[name] = max(
                (spec.stage(d).timeout_ms + tail(d) for d in dependents[name]), default=0.0
            )
        return memo[name]

    return {s.name: tail(s.name) for s in spec.stages}
