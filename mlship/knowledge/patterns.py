"""The pattern knowledge base: one YAML file per pattern, validated on load.

Everything the engine knows about a pattern (what it is for, its trade-offs, its default
stack and its scoring rules) lives in these files, so a platform team can change a
weight or add a rule without touching Python. A typo fails loudly with file and field.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlship.contracts import PatternName
from mlship.errors import KnowledgeBaseError
from mlship.knowledge.conditions import When, check_placeholders
from mlship.resources import patterns_dir
from mlship.validation import describe_validation_error
from mlship.yaml_io import read_yaml_file

ENV_DIR = "MLSHIP_PATTERNS_DIR"

Text = Annotated[str, Field(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Stack(_Strict):
    """The default stack a pattern starts from."""

    serving: Text
    runtime: Text
    packaging: Text
    packaging_without_kubernetes: Text | None = Field(
        None,
        description="Packaging for a team that does not run Kubernetes (team.kubernetes "
        "false); null: `packaging` needs no Kubernetes.",
    )
    label: Text | None = Field(
        None,
        description="Short name of the serving side in `recommend --json` (stack.serving) for "
        "a pattern that serves no requests, e.g. batch-job; services get theirs from the answers.",
    )


Kind = Literal["service", "job", "consumer", "export"]


class BatchSize(_Strict):
    """Rows one model call takes in this pattern's runtime, on CPU and on GPU."""

    cpu: Annotated[int, Field(gt=0)]
    gpu: Annotated[int, Field(gt=0)]


class ProjectFacts(_Strict):
    """What ``mlship new`` needs to know about a project of this pattern."""

    description: Text = Field(description="The project's one-line description by default.")
    main_command: Text = Field(description="The command that runs the main job, e.g. make serve.")
    latency_bound: bool = Field(
        description="The budget is a p99 per prediction that a person chooses (asked by "
        "`mlship new` on a terminal)."
    )
    model_format: Literal["onnx", "sklearn", "torch"] = Field(
        "onnx",
        description="The demo model's format when nothing else names one (no --model-format, "
        "no --model, no decision record).",
    )


class ScaleOut(_Strict):
    """One way to grow beyond one machine; the first whose ``when`` holds is suggested."""

    name: Text
    how: Text
    when: When | None = None


class Rule(_Strict):
    """A soft rule: when it holds, ``weight`` is added to the pattern's score."""

    when: When
    weight: Annotated[float, Field(ge=-1, le=1)]
    reason: Text

    @field_validator("weight")
    @classmethod
    def _non_zero(cls, weight: float) -> float:
        if weight == 0:
            raise ValueError("a weight of 0 changes nothing; remove the rule instead")
        return weight

    @model_validator(mode="after")
    def _reason_names_its_answers(self) -> Rule:
        check_placeholders(self.reason)
        if not any(field in self.reason for field in self.when.fields()):
            fields = ", ".join(self.when.fields())
            raise ValueError(f"reason must name the answer it depends on ({fields})")
        return self


class Exclusion(_Strict):
    """A hard constraint: when it holds, the pattern is out, for the reason ``why``."""

    when: When
    why: Text

    @model_validator(mode="after")
    def _why_names_its_answers(self) -> Exclusion:
        check_placeholders(self.why)
        if not any(field in self.why for field in self.when.fields()):
            raise ValueError(f"why must name the answer it depends on ({self.when.describe()})")
        return self


Criterion = Literal[
    "p99_ms", "max_error_rate", "min_rps", "max_memory_mb", "max_model_mb", "max_lag"
]


class Device(_Strict):
    """How a spike runs an exported model as the target device would."""

    threads: Annotated[int, Field(gt=0)] = Field(description="Intra-op threads the device has.")
    batch_rows: list[Annotated[int, Field(gt=0)]] = Field(
        min_length=1, description="Rows per call: 1 for what a user just did, more for a queue."
    )
    factor: Annotated[float, Field(gt=0)] = Field(
        description="How many times slower than one server core the device runs a model; "
        "the project's own factor (its export report) wins over this one."
    )


class SpikeBudget(_Strict):
    """What ``mlship spike`` judges a project of this pattern on.

    The load itself follows ``kind``: requests for a service, rows for a job, events for a
    consumer, the exported variants for an export.
    """

    criteria: list[Criterion] = Field(
        ["p99_ms", "max_error_rate", "min_rps"],
        min_length=1,
        description="The budget's criteria, in the order a report lists them.",
    )
    defaults: dict[Criterion, Annotated[float, Field(ge=0)]] = Field(
        {}, description="Values for criteria that no flag, record or answer sets."
    )
    devices: dict[str, Device] = Field(
        {}, description="An export's target devices (hardware.target -> how it runs models)."
    )
    declared: list[Criterion] = Field(
        ["p99_ms", "max_error_rate"],
        description="The criteria every project's mlship.yaml must state (`mlship new` "
        "always fills them; `mlship check` rule budget.declared).",
    )

    @model_validator(mode="after")
    def _defaults_are_criteria(self) -> SpikeBudget:
        stray = sorted(set(self.defaults) - set(self.criteria))
        if stray:
            raise ValueError(f"defaults for criteria not listed in criteria: {', '.join(stray)}")
        stray = sorted(set(self.declared) - set(self.criteria))
        if stray:
            raise ValueError(f"declared criteria not listed in criteria: {', '.join(stray)}")
        return self


class Pattern(_Strict):
    """One deployment pattern: what it is, its trade-offs, and how the engine scores it."""

    name: PatternName
    title: Text
    summary: Text
    when_to_use: list[Text] = Field(min_length=1)
    strengths: list[Text] = Field(min_length=1)
    weaknesses: list[Text] = Field(min_length=1)
    best_for: list[Text] = Field(min_length=1)
    stack: Stack
    scale_out: list[ScaleOut] = Field(min_length=1)
    operational_costs: list[Text] = Field(min_length=1)
    data_exposure: Text | None = Field(
        None, description="Where input data goes beyond the caller's process; null: nowhere."
    )
    order: Annotated[int, Field(ge=0)] = Field(
        description="Place in lists; a tie in the ranking goes to the lower order."
    )
    kind: Kind = Field(
        description="service: answers a waiting caller; job: runs on a schedule; consumer: "
        "reads a stream; export: ships the model to devices."
    )
    project: ProjectFacts
    batch_size: BatchSize
    audit_trail_note: Text | None = Field(
        None,
        description="How to keep predictions auditable where this pattern makes it hard; "
        "null: its inputs and outputs are kept anyway.",
    )
    takes_user_model: bool = Field(
        True,
        description="`mlship new --model` applies: the project serves one model the user "
        "brings (a chained project trains its own stage models instead).",
    )
    runs_on_gpu: bool = Field(
        True, description="The template renders a GPU variant for `mlship new --gpu`."
    )
    default_p99_ms: Annotated[float, Field(gt=0)] | None = Field(
        None,
        description="p99 budget in ms a new project of this pattern gets when neither a flag "
        "nor a decision record sets one (a consumer tolerates more than a live service).",
    )
    spike: SpikeBudget = Field(
        SpikeBudget(), description="What `mlship spike` judges a project of this pattern on."
    )
    base_score: Annotated[float, Field(ge=0, le=1)]
    rules: list[Rule] = []
    excludes: list[Exclusion] = []

    @model_validator(mode="after")
    def _last_scale_out_is_a_fallback(self) -> Pattern:
        if self.scale_out[-1].when is not None:
            raise ValueError("scale_out: the last entry must have no `when` (the fallback)")
        if self.kind != "service" and self.stack.label is None:
            raise ValueError(f"stack.label: a {self.kind} pattern needs a short serving name")
        return self

    @property
    def serves_requests(self) -> bool:
        """A caller waits for each answer: replicas, a p99 per request, a load-tested service."""
        return self.kind == "service"

    @property
    def scales_by_copies(self) -> bool:
        """Capacity grows by running more copies (replicas, or consumers of a group)."""
        return self.kind in ("service", "consumer")


def load_pattern(path: Path) -> Pattern:
    """Read and validate one pattern file; the file name must be the pattern's name."""
    data = read_yaml_file(path, KnowledgeBaseError, "pattern file")
    if not isinstance(data, dict):
        raise KnowledgeBaseError(f"{path}: a pattern file must be a mapping of fields")
    try:
        pattern = Pattern.model_validate(data)
    except ValidationError as error:
        problems = "".join(f"\n  {line}" for line in describe_validation_error(error))
        raise KnowledgeBaseError(
            f"invalid pattern file {path}:{problems}",
            hint="`mlship patterns show NAME` prints a valid pattern to copy from",
        ) from None
    if pattern.name != path.stem:
        raise KnowledgeBaseError(f"{path}: name {pattern.name!r} does not match the file name")
    return pattern


def builtin_patterns_dir() -> Path:
    return patterns_dir()


def pattern_files(directory: Path | str | None = None) -> dict[str, Path]:
    """Pattern name -> its YAML file: the built-in ones, replaced or joined by an organisation's.

    ``directory`` (or ``$MLSHIP_PATTERNS_DIR``) names an organisation's knowledge base: its
    files replace the built-in patterns of the same name and add new patterns.
    """
    chosen = directory if directory is not None else os.environ.get(ENV_DIR) or None
    files = {p.stem: p for p in sorted(builtin_patterns_dir().glob("*.yaml"))}
    if chosen is not None:
        custom = Path(chosen)
        if not custom.is_dir():
            raise KnowledgeBaseError(f"patterns directory {custom} does not exist")
        files.update({p.stem: p for p in sorted(custom.glob("*.yaml"))})
    return files


def load_patterns(directory: Path | str | None = None) -> list[Pattern]:
    """Every pattern of the knowledge base, in its ``order``."""
    patterns = [load_pattern(path) for path in pattern_files(directory).values()]
    if not patterns:
        raise KnowledgeBaseError("the knowledge base holds no pattern files")
    orders: dict[int, str] = {}
    for pattern in patterns:
        if pattern.order in orders:
            raise KnowledgeBaseError(
                f"patterns {orders[pattern.order]} and {pattern.name} share order "
                f"{pattern.order}; give each pattern its own"
            )
        orders[pattern.order] = pattern.name
    return sorted(patterns, key=lambda p: p.order)


def load_named_pattern(name: str, directory: Path | str | None = None) -> Pattern:
    """One pattern by name; an unknown name is an error that lists the known ones."""
    files = pattern_files(directory)
    if name not in files:
        raise KnowledgeBaseError(
            f"pattern: {name!r} is not in the knowledge base",
            hint=f"choose one of: {', '.join(pattern_names(directory))}",
        )
    return load_pattern(files[name])


def pattern_names(directory: Path | str | None = None) -> list[str]:
    """The knowledge base's pattern names, in order."""
    return [p.name for p in load_patterns(directory)]


def find_pattern(patterns: list[Pattern], name: str) -> Pattern:
    for pattern in patterns:
        if pattern.name == name:
            return pattern
    raise KeyError(name)
