"""``mlship new --model``: the generated project tests and serves the user's own model.

The projects are made through the public entry point (``new_project``), installed with
``make install`` in a venv, tested with ``make test`` and served with ``make serve``;
requests go to 127.0.0.1 only. scikit-learn models arrive converted to ONNX (served by
onnxruntime, the answers equal to the source model's), or, where skl2onnx cannot convert
them, served by scikit-learn.
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
from tests.model_files import (
    FEATURES,
    logistic_regression,
    onnx_classifier,
    skops_file,
    training_data,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # minutes: CI runs it with -m slow


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


def _served_scores(url: str, rows: list[list[float]]) -> list[list[float]]:
    response = httpx.post(f"{url}/v1/predict", json={"instances": rows}, timeout=30)
    assert response.status_code == 200, response.text
    return [p["scores"] for p in response.json()["predictions"]]


def test_a_skops_model_is_served_as_onnx_with_its_own_feature_names(
    tmp_path: Path, venv_for: Callable[[Path], Venv]
) -> None:
    project = _make(tmp_path, venv_for, model=skops_file(tmp_path / "churn.skops"))
    manifest = json.loads((project.path / "models" / "manifest.json").read_text())
    assert (manifest["framework"], manifest["file"]) == ("onnx", "churn.onnx")
    assert manifest["source_model"]["file"] == "churn.skops"
    assert "onnxruntime==" in (project.path / "pyproject.toml").read_text()
    project.run("make", "test", timeout=900)
    with serve(project) as service:
        body = _predict_by_name(service.url)
        health = httpx.get(f"{service.url}/v2/models/churn", timeout=5).json()
    predictions = body["predictions"]
    assert isinstance(predictions, list) and [p["label"] for p in predictions] == [1, 0]
    assert health["platform"].startswith("onnx"), health


def test_a_trusted_pickle_forest_is_served_by_onnxruntime_with_the_source_models_answers(
    tmp_path: Path, venv_for: Callable[[Path], Venv]
) -> None:
    import joblib
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier

    x, y = training_data()
    forest = RandomForestClassifier(n_estimators=100, random_state=0).fit(x, y)
    path = tmp_path / "rf.joblib"
    joblib.dump(forest, path)
    project = _make(tmp_path, venv_for, model=path, trust_pickle=True)
    manifest = json.loads((project.path / "models" / "manifest.json").read_text())
    assert manifest["framework"] == "onnx" and manifest["conversion"]["status"] == "converted"
    assert sorted(p.name for p in (project.path / "models").iterdir()) == [
        "README.md",
        "manifest.json",
        "rf.onnx",
        "rf.skops",
    ]
    project.run("make", "test", timeout=900)
    rows = x[::7][:64]
    with serve(project) as service:
        scores = np.asarray(_served_scores(service.url, rows.tolist()))
    assert np.abs(scores - forest.predict_proba(rows)).max() < 1e-4
    assert (scores.argmax(axis=1) == forest.predict(rows)).all()


def test_a_model_skl2onnx_cannot_convert_is_served_by_scikit_learn(
    tmp_path: Path, venv_for: Callable[[Path], Venv]
) -> None:
    import numpy as np
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    x, y = training_data()
    pipeline = make_pipeline(FunctionTransformer(np.abs), logistic_regression(False)).fit(x, y)
    project = _make(tmp_path, venv_for, model=skops_file(tmp_path / "custom.skops", pipeline))
    manifest = json.loads((project.path / "models" / "manifest.json").read_text())
    assert (manifest["framework"], manifest["file"]) == ("sklearn", "custom.skops")
    assert "FunctionTransformer" in manifest["conversion"]["reason"]
    project.run("make", "test", timeout=900)
    rows = x[:16]
    with serve(project) as service:
        scores = np.asarray(_served_scores(service.url, rows.tolist()))
    assert np.abs(scores - pipeline.predict_proba(rows)).max() < 1e-6


# --- the README's set-up from a bare install (slow: builds and installs the wheel twice) ---

ROOT = Path(__file__).resolve().parents[2]


def _torchscript_layout(path: Path) -> Path:
    """A zip with the layout torch.jit.save writes (mlship checks it, never loads it)."""
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("model/code/__torch__.py", "")
        archive.writestr("model/data.pkl", b"\x80\x02}q\x00.")
        archive.writestr("model/constants.pkl", b"\x80\x02)q\x00.")
    return path


@pytest.mark.slow
def test_a_bare_install_names_the_extra_and_with_it_reads_every_format(tmp_path: Path) -> None:
    """`pip install mlship` alone: --model exits 2 with the command; with [models] it works."""
    import subprocess
    import sys

    import joblib

    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(dist), str(ROOT)],
        check=True, capture_output=True,
    )  # fmt: skip
    (wheel,) = dist.glob("mlship-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, str(wheel)], check=True, capture_output=True, timeout=900)
    models = tmp_path / "models"
    models.mkdir()
    onnx_classifier(models / "m.onnx")
    skops_file(models / "m.skops")
    joblib.dump(logistic_regression(), models / "m.joblib")
    _torchscript_layout(models / "m.pt")
    (models / "schema.json").write_text(json.dumps({"n_features": 4}))

    def new(dest: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(venv / "bin" / "mlship"), "new", "online", dest, "--defaults", "--no-git", *args],
            capture_output=True, text=True, cwd=tmp_path, timeout=300,
            env={"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "NO_COLOR": "1"},
        )  # fmt: skip

    for name in ("m.onnx", "m.skops"):
        done = new(f"bare-{name}", "--model", str(models / name))
        assert done.returncode == 2, done.stderr
        assert "pip install 'mlship[models]'" in done.stderr.replace("\n", " ")
        assert "Traceback" not in done.stderr and not (tmp_path / f"bare-{name}").exists()
    # a torch file is checked as an archive: no extra needed
    done = new(
        "bare-torch", "--model", str(models / "m.pt"), "--input-schema", str(models / "schema.json")
    )
    assert done.returncode == 0, done.stderr

    subprocess.run([*pip, f"{wheel}[models]"], check=True, capture_output=True, timeout=1200)
    cases = {
        "onnx": ["--model", str(models / "m.onnx")],
        "skops": ["--model", str(models / "m.skops")],
        "pickle": ["--model", str(models / "m.joblib"), "--trust-pickle"],
    }
    for name, args in cases.items():
        done = new(f"full-{name}", *args)
        assert done.returncode == 0, (name, done.stderr)
        manifest = json.loads((tmp_path / f"full-{name}" / "models" / "manifest.json").read_text())
        assert manifest["framework"] == "onnx" and manifest["input"]["shape"] == [None, 4]
    assert "converted to m.onnx" in new("full-again", *cases["skops"]).stdout.replace("\n", " ")
