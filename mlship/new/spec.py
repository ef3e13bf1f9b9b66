"""What ``mlship new`` is asked to make (``ProjectSpec``) and what it made (``NewProjectResult``).

The CLI (or a library caller) fills a ``ProjectSpec`` from flags, prompts and a decision
record; ``mlship.scaffold.new_project`` turns it into a project and returns the result as
data, which the CLI renders once, for a person or as ``--json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mlship.contracts import MAX_MIN_RPS, DecisionRecord, ErrorRate, Milliseconds, PatternName
from mlship.new.copier_data import ModelFormat, PythonVersion


class ProjectSpec(BaseModel):
    """Everything a new project depends on; ``None`` means "take the default"."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    pattern: PatternName
    name: str | None = Field(None, description="Project name; default: DEST's folder name.")
    package: str | None = Field(None, description="Import package; default: from the name.")
    description: str | None = None
    model_format: ModelFormat | None = Field(
        None, description="Runtime format; default: the --model file's, else onnx."
    )
    gpu: bool | None = Field(None, description="Default: the decision record's accelerator.")
    cuda_version: str | None = Field(None, description="CUDA build of torch; default: table's.")
    python_version: PythonVersion = "3.11"
    p99_ms: Milliseconds | None = None
    max_error_rate: ErrorRate | None = None
    min_rps: Annotated[float, Field(ge=0, le=MAX_MIN_RPS)] | None = None
    model: Path | None = Field(None, description="The user's model file to bring in.")
    input_schema: Path | None = Field(None, description="JSON file with the model's input.")
    trust_pickle: bool = False
    git: bool = True
    decision: DecisionRecord | None = Field(
        None, description="The decision record (`mlship recommend --save`) this project follows."
    )
    patterns_dir: Path | None = Field(
        None, description="An organisation's knowledge base (default: $MLSHIP_PATTERNS_DIR)."
    )
    templates: str | None = Field(
        None,
        description="An organisation's template source laid over mlship's (same layout: "
        "<pattern>/..., shared/...): a folder, or a git repository with an optional @REF; "
        "default: $MLSHIP_TEMPLATES.",
    )
    trust: bool = Field(
        False, description="Let the template source run code at render time (copier tasks)."
    )

    @field_validator("templates", mode="before")
    @classmethod
    def _source_text(cls, value: object) -> object:
        return str(value) if isinstance(value, Path) else value


class GitOutcome(BaseModel):
    model_config = ConfigDict(extra="forbid")

    initialized: bool = False
    commit: str | None = None
    note: str | None = None


class NewProjectResult(BaseModel):
    """What was made; its JSON form (``mlship new --json``) is a public contract."""

    model_config = ConfigDict(extra="forbid")

    dest: Path
    pattern: PatternName
    project_name: str
    package: str
    model_format: ModelFormat
    gpu: bool
    files: list[str] = Field(description="Generated files, relative to dest, POSIX paths.")
    overwritten: list[str] = Field(description="Existing files replaced (only with --force).")
    model: dict[str, Any] | None = Field(description="The manifest of a user model, if any.")
    cuda: dict[str, Any] = Field(description="The CUDA table entry used; {} without GPU.")
    git: GitOutcome
    warnings: list[str]
    next: list[str] = Field(description="The commands to run next, in order.")
    render_seconds: float
