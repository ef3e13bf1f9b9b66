"""``models/manifest.json``: what the model is, and proof that the file is the one validated."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ModelLoadError

MANIFEST_NAME = "manifest.json"
_CHUNK = 1 << 20


class InputSpec(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = "input"
    dtype: Literal["float32"] = "float32"
    shape: list[int | None] = Field(min_length=2, max_length=2)
    features: list[str] | None = None
    # the largest magnitude a feature value may have: beyond it a model's float32 arithmetic
    # overflows (scores become NaN), so inputs are refused by name instead
    max_abs: float | None = Field(None, gt=0)

    @property
    def n_features(self) -> int:
        width = self.shape[1]
        if width is None:
            raise ModelLoadError("manifest input.shape[1] must give the number of features")
        return width


class OutputSpec(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = None
    classes: list[int | str] | None = None


class Histogram(BaseModel):
    edges: list[float] = Field(min_length=2)
    counts: list[float]


class Baseline(BaseModel):
    model_config = ConfigDict(extra="ignore")

    score_histogram: Histogram | None = None


class Manifest(BaseModel):
    """The manifest's fields (schema version 1)."""

    model_config = ConfigDict(extra="ignore", protected_namespaces=())

    schema_version: Literal[1] = 1
    name: str
    version: str
    framework: Literal["onnx", "sklearn", "torch"]
    file: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    created: str | None = None
    source: Literal["demo", "user"] = "user"
    task: Literal["classification", "regression", "unknown"] = "unknown"
    input: InputSpec
    output: OutputSpec = OutputSpec()
    baseline: Baseline | None = None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def load_manifest(models_dir: Path) -> Manifest:
    """Read and validate the manifest; errors name the file and the field."""
    path = Path(models_dir) / MANIFEST_NAME
    if not path.is_file():
        raise ModelLoadError(f"{path}: no model manifest; build the demo model with `make model`")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"{path}: not readable JSON ({error})") from error
    try:
        return Manifest.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise ModelLoadError(f"{path}: invalid manifest: {problems}") from error


def artifact_path(manifest: Manifest, models_dir: Path) -> Path:
    """The model file, which must lie inside ``models_dir``."""
    root = Path(models_dir).resolve()
    path = (root / manifest.file).resolve()
    if not path.is_relative_to(root):
        raise ModelLoadError(f"manifest file {manifest.file!r} points outside {root}")
    if not path.is_file():
        raise ModelLoadError(f"{path}: model file named in the manifest does not exist")
    return path


def verify_artifact(manifest: Manifest, models_dir: Path) -> Path:
    """Return the model file once its sha256 matches the manifest; refuse it otherwise."""
    path = artifact_path(manifest, models_dir)
    actual = sha256_of(path)
    if actual != manifest.sha256:
        raise ModelLoadError(
            f"{path}: sha256 mismatch, refusing to load the model "
            f"(expected {manifest.sha256} from {MANIFEST_NAME}, actual {actual}). "
            "The file changed after the manifest was written: restore it, or rebuild the "
            "manifest for the new file deliberately."
        )
    return path
