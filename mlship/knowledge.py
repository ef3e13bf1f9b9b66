"""The pattern knowledge base: one YAML file per pattern, validated on load.

Everything the engine knows about a pattern (what it is for, its trade-offs, its default
stack and its scoring rules) lives in these files, so a platform team can change a
weight or add a rule without touching Python. A typo fails loudly with file and field.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlship.conditions import When, check_placeholders
from mlship.errors import KnowledgeBaseError
from mlship.models import PATTERN_NAMES, PatternName
from mlship.validation import describe_validation_error
from mlship.yaml_io import load_yaml

ENV_DIR = "MLSHIP_PATTERNS_DIR"

Text = Annotated[str, Field(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Stack(_Strict):
    """The default stack a pattern starts from."""

    serving: Text
    runtime: Text
    packaging: Text


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
    serves_requests: bool = Field(description="Answers a waiting caller (a replica count applies).")
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
    base_score: Annotated[float, Field(ge=0, le=1)]
    rules: list[Rule] = []
    excludes: list[Exclusion] = []

    @model_validator(mode="after")
    def _last_scale_out_is_a_fallback(self) -> Pattern:
        if self.scale_out[-1].when is not None:
            raise ValueError("scale_out: the last entry must have no `when` (the fallback)")
        return self


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise KnowledgeBaseError(f"cannot read pattern file {path}: {error}") from None
    try:
        return load_yaml(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(error, "problem", None) or str(error)
        raise KnowledgeBaseError(f"{where}: not valid YAML: {problem}") from None


def load_pattern(path: Path) -> Pattern:
    """Read and validate one pattern file; the file name must be the pattern's name."""
    data = _read_yaml(path)
    if not isinstance(data, dict):
        raise KnowledgeBaseError(f"{path}: a pattern file must be a mapping of fields")
    try:
        pattern = Pattern.model_validate(data)
    except ValidationError as error:
        problems = "".join(f"\n  {line}" for line in describe_validation_error(error))
        raise KnowledgeBaseError(
            f"invalid pattern file {path}:{problems}",
            hint="docs/patterns/README.md lists the fields a pattern file takes",
        ) from None
    if pattern.name != path.stem:
        raise KnowledgeBaseError(f"{path}: name {pattern.name!r} does not match the file name")
    return pattern


def builtin_patterns_dir() -> Path:
    from mlship.resources import patterns_dir

    return Path(str(patterns_dir()))


def load_patterns(directory: Path | str | None = None) -> list[Pattern]:
    """All five patterns, in the canonical order.

    ``directory`` (or ``$MLSHIP_PATTERNS_DIR``) names an organisation's knowledge base: its
    files replace the built-in patterns of the same name; the others stay built in.
    """
    chosen = directory if directory is not None else os.environ.get(ENV_DIR) or None
    files = {p.stem: p for p in sorted(builtin_patterns_dir().glob("*.yaml"))}
    if chosen is not None:
        custom = Path(chosen)
        if not custom.is_dir():
            raise KnowledgeBaseError(f"patterns directory {custom} does not exist")
        for path in sorted(custom.glob("*.yaml")):
            if path.stem not in PATTERN_NAMES:
                allowed = ", ".join(PATTERN_NAMES)
                raise KnowledgeBaseError(
                    f"{path}: unknown pattern file {path.name!r} (allowed names: {allowed})"
                )
            files[path.stem] = path
    missing = [name for name in PATTERN_NAMES if name not in files]
    if missing:
        raise KnowledgeBaseError(f"knowledge base lacks pattern files for: {', '.join(missing)}")
    return [load_pattern(files[name]) for name in PATTERN_NAMES]


def find_pattern(patterns: list[Pattern], name: str) -> Pattern:
    for pattern in patterns:
        if pattern.name == name:
            return pattern
    raise KeyError(name)
