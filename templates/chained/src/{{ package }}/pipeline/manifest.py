"""``models/pipeline.json``: every stage's model name, version, sha256 and schema.

The executor refuses to start when a stage's model on disk is not the one recorded here, or
when stages do not fit together (an input width, an upstream stage's classes).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..inference.errors import ModelLoadError

PIPELINE_MANIFEST = "pipeline.json"


class StageRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    dir: str
    name: str
    version: str
    framework: Literal["onnx", "sklearn", "torch"]
    file: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    n_features: int = Field(gt=0)
    classes: list[str] = Field(min_length=1)
    holdout_accuracy: float | None = None


class Featurizer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int
    text_buckets: int = Field(gt=0)
    token_buckets: int = Field(gt=0)


class PipelineManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = 1
    name: str
    version: str
    created: str | None = None
    featurizer: Featurizer
    stages: dict[str, StageRecord]
    conditions: dict[str, list[str]] = {}
    label_mask: dict[str, list[str]] = {}


def load_pipeline_manifest(models_dir: Path) -> PipelineManifest:
    path = Path(models_dir) / PIPELINE_MANIFEST
    if not path.is_file():
        raise ModelLoadError(
            f"{path}: no pipeline manifest; build the demo models with `make model`"
        )
    try:
        return PipelineManifest.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except ValueError as error:
        if isinstance(error, ValidationError):
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
            )
            raise ModelLoadError(f"{path}: invalid pipeline manifest: {problems}") from error
        raise ModelLoadError(f"{path}: not readable JSON ({error})") from error
