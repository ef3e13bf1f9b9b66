"""Bring the user's own model into a project: checked, copied under ``models/``, described.

``inspect_model`` reads what the file says about its input (see ``mlship.new.model_formats``)
and merges it with an optional ``--input-schema`` file; ``install_model`` copies the file
and writes ``models/manifest.json`` (checksum, schema, provenance) in the shared format
the generated project loads and verifies.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mlship.errors import InputError
from mlship.new.model_formats import ModelFacts, read_onnx, read_pickle, read_skops, read_torch
from mlship.validation import describe_validation_error

ModelFormat = Literal["onnx", "sklearn", "torch"]
MANIFEST = "manifest.json"
SCHEMA_HELP = (
    'a JSON file: {"features": ["age", "income", ...]} or {"n_features": 12, "dtype": "float32"}'
)

# File suffix -> (runtime format, reader kind)
SUFFIXES: dict[str, tuple[ModelFormat, str]] = {
    ".onnx": ("onnx", "onnx"),
    ".skops": ("sklearn", "skops"),
    ".joblib": ("sklearn", "pickle"),
    ".pkl": ("sklearn", "pickle"),
    ".pickle": ("sklearn", "pickle"),
    ".pt": ("torch", "torch"),
    ".pth": ("torch", "torch"),
    ".ts": ("torch", "torch"),
}
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class InputSchema(BaseModel):
    """The ``--input-schema`` file: the model's input when the file cannot tell."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    features: Annotated[list[str], Field(min_length=1)] | None = None
    n_features: Annotated[int, Field(gt=0)] | None = None
    dtype: Literal["float32"] | None = Field(
        None, description="The generated service feeds float32 batches."
    )
    input_name: str | None = None
    task: Literal["classification", "regression", "unknown"] | None = None
    classes: list[int | str] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> InputSchema:
        if self.features is None and self.n_features is None:
            raise ValueError("give features (a list of names) or n_features")
        if self.features is not None:
            if len(set(self.features)) != len(self.features):
                raise ValueError("features: names must be unique")
            if self.n_features is not None and self.n_features != len(self.features):
                raise ValueError(
                    f"n_features is {self.n_features} but {len(self.features)} features are named"
                )
        return self


def read_input_schema(path: Path) -> InputSchema:
    """Load and validate an input schema file; errors name the file and the field."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"input-schema: {path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(
            f"input-schema: {path}: not a JSON file ({error})", hint=SCHEMA_HELP
        ) from error
    try:
        return InputSchema.model_validate(raw)
    except ValidationError as error:
        raise InputError(
            f"input-schema: {path} is invalid",
            hint=SCHEMA_HELP,
            problems=describe_validation_error(error),
        ) from error


@dataclass
class ImportedModel:
    """A checked model, ready to be installed into a project's ``models/``."""

    source: Path
    file_name: str
    framework: ModelFormat
    facts: ModelFacts
    name: str
    warnings: list[str] = field(default_factory=list)


def format_of(path: Path) -> ModelFormat:
    """The runtime format a model file implies, from its suffix."""
    known = SUFFIXES.get(path.suffix.lower())
    if known is None:
        raise InputError(
            f"model: {path}: unknown model file type {path.suffix or '(no suffix)'!r}",
            hint=f"supported: {', '.join(sorted(SUFFIXES))}",
        )
    return known[0]


def inspect_model(
    path: Path,
    model_format: ModelFormat | None = None,
    input_schema: Path | None = None,
    trust_pickle: bool = False,
) -> ImportedModel:
    """Check ``path`` and derive its input schema; raise ``InputError`` on any problem."""
    if not path.exists():
        raise InputError(f"model: {path}: no such file")
    if not path.is_file():
        raise InputError(f"model: {path}: not a file (give the model file itself)")
    framework = format_of(path)
    if model_format is not None and model_format != framework:
        raise InputError(
            f"model-format: {model_format!r} does not match the model file {path.name}, "
            f"whose format is {framework}",
            hint=f"drop --model-format or pass --model-format {framework}, or convert the "
            "model first",
        )
    schema = read_input_schema(input_schema) if input_schema is not None else None
    kind = SUFFIXES[path.suffix.lower()][1]
    if kind == "onnx":
        facts = read_onnx(path)
    elif kind == "skops":
        facts = read_skops(path)
    elif kind == "pickle":
        facts = read_pickle(path, trust=trust_pickle)
    else:
        if schema is None:
            raise InputError(
                f"model: {path}: a torch model does not record its input in a form mlship "
                "can read without running it, so --input-schema FILE is needed",
                hint=f"pass --input-schema with {SCHEMA_HELP}",
            )
        facts = read_torch(path)
    if schema is not None:
        _apply_schema(path, facts, schema)
    if facts.n_features is None:
        raise InputError(
            f"model: {path}: the number of input features is not recorded in the file",
            hint=f"pass --input-schema with {SCHEMA_HELP}",
        )
    file_name = path.name if _SAFE_NAME.match(path.name) else f"model{path.suffix.lower()}"
    if facts.skops_bytes is not None:
        file_name = Path(file_name).stem + ".skops"
    return ImportedModel(
        source=path,
        file_name=file_name,
        framework=framework,
        facts=facts,
        name=_model_name(path),
        warnings=list(facts.warnings),
    )


def _apply_schema(path: Path, facts: ModelFacts, schema: InputSchema) -> None:
    """Merge the schema file into what the model said; contradictions are errors."""
    count = len(schema.features) if schema.features is not None else schema.n_features
    if facts.n_features is not None and count != facts.n_features:
        raise InputError(
            f"input-schema: describes {count} features but the model {path.name} takes "
            f"{facts.n_features}"
        )
    facts.n_features = count
    if schema.features is not None:
        facts.features = list(schema.features)
    if schema.input_name is not None:
        facts.input_name = schema.input_name
    if schema.classes is not None:
        facts.classes = list(schema.classes)
        facts.task = "classification"
    if schema.task is not None:
        facts.task = schema.task


def _model_name(path: Path) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-")
    return slug or "model"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def manifest_for(model: ImportedModel, sha256: str) -> dict[str, Any]:
    """The manifest document (schema_version 1) for an installed user model."""
    facts = model.facts
    return {
        "schema_version": 1,
        "name": model.name,
        "version": "1.0.0",
        "framework": model.framework,
        "file": model.file_name,
        "sha256": sha256,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source": "user",
        "task": facts.task,
        "input": {
            "name": facts.input_name,
            "dtype": facts.dtype,
            "shape": [None, facts.n_features],
            "features": facts.features,
        },
        "output": {"name": facts.output_name, "classes": facts.classes},
    }


def install_model(model: ImportedModel, models_dir: Path) -> dict[str, Any]:
    """Copy (or write the converted) model into ``models_dir`` and write the manifest."""
    models_dir.mkdir(parents=True, exist_ok=True)
    target = models_dir / model.file_name
    if model.facts.skops_bytes is not None:
        target.write_bytes(model.facts.skops_bytes)
    else:
        shutil.copyfile(model.source, target)
    manifest = manifest_for(model, sha256_of(target))
    (models_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest
