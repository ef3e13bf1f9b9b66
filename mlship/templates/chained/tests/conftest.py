"""Fixtures over the stage models (``models/<stage>/``) and the pipeline built from them.

The shared inference tests (``test_inference.py``) run once per stage model: ``models_dir``
is parametrised over the stages recorded in ``models/pipeline.json``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from project import MODELS, ROOT, inference, settings

PIPELINE_JSON = MODELS / "pipeline.json"
STAGE_DIRS = (
    sorted(s["dir"] for s in json.loads(PIPELINE_JSON.read_text())["stages"].values())
    if PIPELINE_JSON.is_file()
    else ["(no models)"]
)


@pytest.fixture(scope="session", params=STAGE_DIRS)
def models_dir(request: pytest.FixtureRequest) -> Path:
    if not PIPELINE_JSON.is_file():
        pytest.exit("no models/pipeline.json: run `make model` (or `make test`) first", 2)
    return MODELS / str(request.param)


@pytest.fixture(scope="session")
def predictor(models_dir: Path) -> Any:
    return inference.load_predictor(settings.AppSettings(models_dir=models_dir, device="cpu"))


@pytest.fixture(scope="session")
def manifest_doc(models_dir: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((models_dir / "manifest.json").read_text())
    return document


@pytest.fixture
def instances(predictor: Any) -> list[list[float]]:
    """Three valid instances: zeros, ones and a ramp over the features."""
    width = predictor.schema.n_features
    return [[0.0] * width, [1.0] * width, [float(i) for i in range(width)]]


@pytest.fixture
def copied_models(models_dir: Path, tmp_path: Path) -> Path:
    """A private copy of one stage's models folder that a test may damage."""
    target = tmp_path / "models"
    shutil.copytree(models_dir, target)
    return target


@pytest.fixture
def pipeline_models(tmp_path: Path) -> Path:
    """A private copy of the whole models/ folder."""
    if not PIPELINE_JSON.is_file():
        pytest.exit("no models/pipeline.json: run `make model` (or `make test`) first", 2)
    target = tmp_path / "models"
    shutil.copytree(MODELS, target)
    return target


@pytest.fixture
def pipeline_yaml() -> Path:
    return ROOT / "pipeline.yaml"
