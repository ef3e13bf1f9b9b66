"""``mlship new --model``: the generated project tests and serves the user's own model.

The projects are made through the public entry point (``new_project``), installed with
``make install`` in a venv, tested with ``make test`` and served with ``make serve``;
requests go to 127.0.0.1 only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from mlship.new.project import new_project
from mlship.new.spec import ProjectSpec
from tests.e2e.conftest import Project, Venv, serve
from tests.model_files import FEATURES, onnx_classifier, skops_file

pytestmark = pytest.mark.e2e


def _make(tmp_path: Path, venv_for: Callable[[Path], Venv], **spec: object) -> Project:
    result = new_project(
        ProjectSpec.model_validate({"pattern": "online", **spec}), tmp_path / "svc"
    )
    assert result.model is not None and result.git.commit
    return Project(result.dest, result.package, venv_for(result.dest))


def _predict_by_name(url: str) -> dict[str, object]:
    rows = [
        dict(zip(FEATURES, [14.0, 20.0, 90.0, 600.0], strict=True)),
        dict(zip(FEATURES, [20.0, 25.0, 130.0, 1200.0], strict=True)),
    ]
    response = httpx.post(f"{url}/v1/predict", json={"instances": rows}, timeout=10)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_an_onnx_model_with_named_features_is_tested_and_served(
    tmp_path: Path, venv_for: Callable[[Path], Venv]
) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"features": FEATURES}))
    project = _make(
        tmp_path, venv_for, model=onnx_classifier(tmp_path / "fraud.onnx"), input_schema=schema
    )
    manifest_before = (project.path / "models" / "manifest.json").read_text()
    project.run("make", "test", timeout=900)
    assert (project.path / "models" / "manifest.json").read_text() == manifest_before
    with serve(project) as service:
        body = _predict_by_name(service.url)
        info = httpx.get(f"{service.url}/v2/models/fraud", timeout=5)
    predictions = body["predictions"]
    assert isinstance(predictions, list) and [p["label"] for p in predictions] == [1, 0]
    manifest = json.loads(manifest_before)
    assert body["model"] == {"name": "fraud", "version": "1.0.0", "sha256": manifest["sha256"]}
    assert info.status_code == 200, info.text


def test_a_skops_model_is_tested_and_served_with_its_own_feature_names(
    tmp_path: Path, venv_for: Callable[[Path], Venv]
) -> None:
    project = _make(tmp_path, venv_for, model=skops_file(tmp_path / "churn.skops"))
    project.run("make", "test", timeout=900)
    with serve(project) as service:
        body = _predict_by_name(service.url)
    predictions = body["predictions"]
    assert isinstance(predictions, list) and [p["label"] for p in predictions] == [1, 0]
