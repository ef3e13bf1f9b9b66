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
from mlship.new.model_formats import (
    ModelFacts,
    missing_reader,
    read_onnx,
    read_pickle,
    read_skops,
    read_torch,
    require_reader,
)
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
MAX_FEATURES = 1_000_000  # a request body of one row must stay sendable
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class InputSchema(BaseModel):
    """The ``--input-schema`` file: the model's input when the file cannot tell."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    features: Annotated[list[str], Field(min_length=1, max_length=MAX_FEATURES)] | None = None
    n_features: Annotated[int, Field(gt=0, le=MAX_FEATURES)] | None = None
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
    """A checked model, ready to be installed into a project's ``models/``.

    ``file_name`` is the file the project serves. A scikit-learn model converted to ONNX
    is served from ``file_name`` (ONNX) and kept beside it as ``source_file_name``.
    """

    source: Path
    file_name: str
    framework: ModelFormat
    facts: ModelFacts
    name: str
    warnings: list[str] = field(default_factory=list)
    source_file_name: str | None = None
    onnx_bytes: bytes | None = None
    conversion: dict[str, Any] | None = None  # the manifest's "conversion" block


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
    convert: bool = True,
) -> ImportedModel:
    """Check ``path`` and derive its input schema; raise ``InputError`` on any problem.

    A scikit-learn model is converted to ONNX where parity holds, unless ``convert`` is
    false (library callers that want the scikit-learn runtime as it is).
    """
    if not path.exists():
        raise InputError(f"model: {path}: no such file")
    if not path.is_file():
        raise InputError(f"model: {path}: not a file (give the model file itself)")
    framework = format_of(path)
    converting = framework == "sklearn" and model_format == "onnx"
    if model_format is not None and model_format != framework and not converting:
        raise InputError(
            f"model-format: {model_format!r} does not match the model file {path.name}, "
            f"whose format is {framework}",
            hint=f"drop --model-format or pass --model-format {framework}, or convert the "
            "model first",
        )
    schema = read_input_schema(input_schema) if input_schema is not None else None
    kind = SUFFIXES[path.suffix.lower()][1]
    if kind == "torch" and schema is None:
        raise InputError(
            f"model: {path}: a torch model does not record its input in a form mlship "
            "can read without running it, so --input-schema FILE is needed",
            hint=f"pass --input-schema with {SCHEMA_HELP}",
        )
    if kind == "pickle" and not trust_pickle:
        read_pickle(path, trust=False)  # refuses, saying why, before anything is imported
    require_reader(path, kind)
    try:
        facts = _read(path, kind, trust_pickle)
    except ImportError as error:  # a reader library that is present but broken
        raise missing_reader(path, kind, [error.name or str(error)]) from None
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
    imported = ImportedModel(
        source=path,
        file_name=file_name,
        framework=framework,
        facts=facts,
        name=_model_name(path),
        warnings=list(facts.warnings),
    )
    if framework == "sklearn" and convert:
        _serve_as_onnx(imported, model_format)
    return imported


def _serve_as_onnx(model: ImportedModel, model_format: ModelFormat | None) -> None:
    """Convert a scikit-learn model to ONNX; fall back to scikit-learn with the reason.

    ``--model-format onnx`` makes a failed conversion an error. ``--model-format sklearn``
    (like the demo model of such a project) converts too, but the project keeps the
    scikit-learn runtime installed beside onnxruntime, ready to serve the source file.
    """
    from mlship.new.model_convert import convert_to_onnx
    from mlship.new.model_formats import load_sklearn

    source = model.file_name
    facts = model.facts
    assert facts.n_features is not None  # checked by inspect_model
    result = convert_to_onnx(load_sklearn(model.source, facts), facts.n_features)
    model.conversion = result.record
    if not result.converted:
        if model_format == "onnx":
            raise InputError(
                f"model-format: {model.source.name} cannot be served as ONNX: {result.reason}",
                hint="drop --model-format (or pass --model-format sklearn) to serve it with "
                "scikit-learn",
            )
        model.warnings.append(
            f"{source} is served by scikit-learn, not converted to ONNX: {result.reason}"
        )
        return
    model.onnx_bytes = result.onnx_bytes
    model.source_file_name = source
    model.file_name = f"{Path(source).stem}.onnx"
    model.framework = "onnx"
    facts.output_name = result.output_name
    if facts.task == "unknown" and facts.classes is None:
        facts.task = "regression"


def _read(path: Path, kind: str, trust_pickle: bool) -> ModelFacts:
    if kind == "onnx":
        return read_onnx(path)
    if kind == "skops":
        return read_skops(path)
    if kind == "pickle":
        return read_pickle(path, trust=trust_pickle)
    return read_torch(path)


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


def manifest_for(
    model: ImportedModel, sha256: str, source_sha256: str | None = None
) -> dict[str, Any]:
    """The manifest document (schema_version 1) for an installed user model."""
    facts = model.facts
    document: dict[str, Any] = {
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
    if model.source_file_name is not None:
        document["source_model"] = {
            "file": model.source_file_name,
            "framework": "sklearn",
            "sha256": source_sha256,
        }
    if model.facts.skops_bytes is not None:  # a pickle, saved as skops: where it came from
        # not a {file, sha256} entry: the pickle itself is deliberately not in models/
        block = document.get("source_model") or document
        block["unpickled_from"] = model.source.name
        block["unpickled_sha256"] = sha256_of(model.source)
    if model.conversion is not None:
        document["conversion"] = model.conversion
    return document


def install_model(model: ImportedModel, models_dir: Path) -> dict[str, Any]:
    """Copy (or write the converted) model into ``models_dir`` and write the manifest.

    A scikit-learn model converted to ONNX leaves two files: the ONNX graph the project
    serves and the source model, each with its sha256 in the manifest.
    """
    models_dir.mkdir(parents=True, exist_ok=True)
    source = models_dir / (model.source_file_name or model.file_name)
    if model.facts.skops_bytes is not None:
        source.write_bytes(model.facts.skops_bytes)
    else:
        shutil.copyfile(model.source, source)
    source_sha256 = None
    target = source
    if model.onnx_bytes is not None:
        source_sha256 = sha256_of(source)
        target = models_dir / model.file_name
        target.write_bytes(model.onnx_bytes)
    manifest = manifest_for(model, sha256_of(target), source_sha256)
    (models_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest
