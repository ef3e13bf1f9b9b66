"""Fixtures over the model the project serves (``models/``, built by ``make model``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from project import MODELS, inference, settings


@pytest.fixture(scope="session")
def models_dir() -> Path:
    if not (MODELS / "manifest.json").is_file():
        pytest.exit("no models/manifest.json: run `make model` (or `make test`) first", 2)
    return MODELS


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
    """A private copy of models/ that a test may damage."""
    target = tmp_path / "models"
    shutil.copytree(models_dir, target)
    return target
