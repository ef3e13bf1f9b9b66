"""scikit-learn models brought in with ``--model`` are served as ONNX once parity is shown,
and fall back to scikit-learn, with the reason, when it is not."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlship.errors import InputError
from mlship.new import model_convert
from mlship.new.model_import import inspect_model, install_model
from tests.model_files import FEATURES, logistic_regression, skops_file, training_data


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _onnx_scores(path: Path, rows: np.ndarray, output: str) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run([output], {"input": rows})[0])


def _forest() -> Any:
    from sklearn.ensemble import RandomForestClassifier

    x, y = training_data()
    return RandomForestClassifier(n_estimators=30, random_state=0).fit(x, y)


def test_a_skops_pipeline_is_converted_and_both_files_are_in_the_manifest(
    tmp_path: Path,
) -> None:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = training_data()
    pipeline = make_pipeline(StandardScaler(), logistic_regression(with_names=False))
    pipeline.fit(x, y)
    source = skops_file(tmp_path / "churn.skops", pipeline)
    model = inspect_model(source)
    assert (model.framework, model.file_name, model.source_file_name) == (
        "onnx",
        "churn.onnx",
        "churn.skops",
    )
    models = tmp_path / "models"
    manifest = install_model(model, models)
    assert json.loads((models / "manifest.json").read_text()) == manifest
    assert (models / "churn.skops").read_bytes() == source.read_bytes()
    assert manifest["framework"] == "onnx" and manifest["file"] == "churn.onnx"
    assert manifest["sha256"] == _sha(models / "churn.onnx")
    assert manifest["source_model"] == {
        "file": "churn.skops",
        "framework": "sklearn",
        "sha256": _sha(source),
    }
    conversion = manifest["conversion"]
    assert conversion["status"] == "converted" and conversion["converter"].startswith("skl2onnx")
    parity = conversion["parity"]
    assert parity["labels_equal"] is True and parity["rows"] == model_convert.PARITY_ROWS
    assert parity["max_abs_diff"] <= parity["tolerance"] == model_convert.TOLERANCE
    assert manifest["output"] == {"name": "probabilities", "classes": [0, 1]}
    # the file on disk is what onnxruntime serves, and it agrees with the source model
    scores = _onnx_scores(models / "churn.onnx", x[:50], "probabilities")
    assert np.abs(scores - pipeline.predict_proba(x[:50])).max() < model_convert.TOLERANCE


def test_a_trusted_pickle_forest_is_converted_and_its_provenance_kept(tmp_path: Path) -> None:
    import joblib

    forest = _forest()
    path = tmp_path / "rf.joblib"
    joblib.dump(forest, path)
    manifest = install_model(inspect_model(path, trust_pickle=True), tmp_path / "models")
    assert manifest["framework"] == "onnx" and manifest["file"] == "rf.onnx"
    source = manifest["source_model"]
    assert source["file"] == "rf.skops"
    assert source["sha256"] == _sha(tmp_path / "models" / "rf.skops")
    assert (source["unpickled_from"], source["unpickled_sha256"]) == ("rf.joblib", _sha(path))
    assert not (tmp_path / "models" / "rf.joblib").exists()  # the project never unpickles
    x, _ = training_data()
    scores = _onnx_scores(tmp_path / "models" / "rf.onnx", x, "probabilities")
    assert (scores.argmax(axis=1) == forest.predict(x)).all()


def test_a_regressor_and_string_classes_convert_too(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression, Ridge

    x, y = training_data()
    ridge = skops_file(tmp_path / "price.skops", Ridge().fit(x, x[:, 0] * 3.0 + 1.0))
    manifest = install_model(inspect_model(ridge), tmp_path / "a")
    assert (manifest["framework"], manifest["task"]) == ("onnx", "regression")
    assert manifest["output"]["name"] == "variable"
    assert manifest["conversion"]["parity"]["relative"] is True
    labels = np.array(["benign", "malignant"])[y]
    named = skops_file(tmp_path / "kind.skops", LogisticRegression(max_iter=1000).fit(x, labels))
    manifest = install_model(inspect_model(named), tmp_path / "b")
    assert manifest["framework"] == "onnx"
    assert manifest["output"]["classes"] == ["benign", "malignant"]


def test_a_model_skl2onnx_cannot_convert_falls_back_to_scikit_learn(tmp_path: Path) -> None:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    x, y = training_data()
    pipeline = make_pipeline(FunctionTransformer(np.abs), logistic_regression(False))
    source = skops_file(tmp_path / "custom.skops", pipeline.fit(x, y))
    model = inspect_model(source)
    assert (model.framework, model.file_name, model.onnx_bytes) == ("sklearn", "custom.skops", None)
    (warning,) = [w for w in model.warnings if "not converted to ONNX" in w]
    assert "FunctionTransformer" in warning
    manifest = install_model(model, tmp_path / "models")
    assert manifest["framework"] == "sklearn" and "source_model" not in manifest
    assert manifest["conversion"]["status"] == "failed"
    assert "FunctionTransformer" in manifest["conversion"]["reason"]
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [
        "custom.skops",
        "manifest.json",
    ]
    with pytest.raises(InputError) as caught:  # asked for ONNX: an error, not a fallback
        inspect_model(source, model_format="onnx")
    assert "cannot be served as ONNX" in caught.value.message
    assert "--model-format sklearn" in (caught.value.hint or "")


def test_a_parity_gap_above_the_tolerance_is_a_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(model_convert, "TOLERANCE", 1e-12)  # float32 graphs differ by ~1e-7
    model = inspect_model(skops_file(tmp_path / "m.skops"))
    assert model.framework == "sklearn"
    reason = model.conversion["reason"] if model.conversion else ""
    assert "scores differ from the source model's by up to" in reason
    assert "tolerance 1e-12" in reason and "512 parity rows" in reason


def test_a_classifier_without_probabilities_is_not_converted(tmp_path: Path) -> None:
    from sklearn.linear_model import RidgeClassifier

    x, y = training_data()
    model = inspect_model(skops_file(tmp_path / "r.skops", RidgeClassifier().fit(x, y)))
    assert model.framework == "sklearn"
    assert model.conversion is not None
    assert "gives no class probabilities" in model.conversion["reason"]


def test_model_format_sklearn_converts_and_keeps_the_scikit_learn_runtime_installed(
    tmp_path: Path,
) -> None:
    """As the demo model of such a project: served as ONNX, the source ready beside it."""
    from mlship.new.project import new_project
    from mlship.new.spec import ProjectSpec

    source = skops_file(tmp_path / "m.skops")
    spec = ProjectSpec(pattern="online", model=source, model_format="sklearn", git=False)
    result = new_project(spec, tmp_path / "svc")
    assert result.model_format == "sklearn" and result.model is not None
    assert (result.model["framework"], result.model["file"]) == ("onnx", "m.onnx")
    pyproject = (tmp_path / "svc" / "pyproject.toml").read_text()
    assert "onnxruntime==" in pyproject and "scikit-learn==" in pyproject


def test_without_the_converter_the_model_is_served_by_scikit_learn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = skops_file(tmp_path / "m.skops")
    monkeypatch.setitem(sys.modules, "skl2onnx", None)
    model = inspect_model(source)
    assert model.framework == "sklearn"
    assert model.conversion is not None
    assert "skl2onnx not installed" in model.conversion["reason"]
    assert "mlship[models]" in model.conversion["reason"]


@pytest.mark.parametrize(
    ("make", "expected_centre"),
    [
        ("scaler", "mean"),
        ("forest", "thresholds"),
        ("plain", "zero"),
    ],
)
def test_parity_rows_follow_the_fitted_range(make: str, expected_centre: str) -> None:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = training_data()
    model: Any
    if make == "scaler":
        model = make_pipeline(StandardScaler(), logistic_regression(False)).fit(x, y)
    elif make == "forest":
        model = _forest()
    else:
        model = logistic_regression(False)
    rows = model_convert.parity_rows(model, 4, rows=64)
    assert rows.shape == (64, 4) and rows.dtype == np.float32 and np.isfinite(rows).all()
    if expected_centre == "mean":
        assert np.allclose(rows[0], x.mean(axis=0), rtol=1e-4)
    elif expected_centre == "thresholds":
        assert rows[0][3] > 100  # mean area: thresholds in the hundreds, not around 0
    else:
        assert (rows[0] == 0).all()


def test_feature_names_survive_the_conversion(tmp_path: Path) -> None:
    manifest = install_model(inspect_model(skops_file(tmp_path / "m.skops")), tmp_path / "m")
    assert manifest["input"]["features"] == FEATURES and manifest["input"]["name"] == "input"


def test_mlship_check_finds_both_artifacts_of_a_converted_pickle_intact(tmp_path: Path) -> None:
    """The manifest's two {file, sha256} entries are what `mlship check` verifies."""
    import joblib

    from mlship.lifecycle.check.runner import check_project
    from mlship.new.project import new_project
    from mlship.new.spec import ProjectSpec

    path = tmp_path / "rf.joblib"
    joblib.dump(_forest(), path)
    spec = ProjectSpec(pattern="online", model=path, trust_pickle=True, git=False)
    dest = new_project(spec, tmp_path / "svc").dest
    findings = [f for f in check_project(dest).findings if f.area == "model"]
    assert findings == [], findings
    (dest / "models" / "rf.skops").write_bytes(b"changed")
    messages = [f.message for f in check_project(dest).findings if f.area == "model"]
    assert any("rf.skops does not match the sha256" in m for m in messages), messages


def test_tied_votes_are_not_counted_as_label_disagreements(tmp_path: Path) -> None:
    """Two fully grown trees vote 1:1 on many rows: no label is right there, scores still are."""
    from sklearn.ensemble import RandomForestClassifier

    x, y = training_data()
    forest = RandomForestClassifier(n_estimators=2, random_state=0).fit(x, y)
    model = inspect_model(skops_file(tmp_path / "pair.skops", forest))
    assert model.framework == "onnx", model.conversion
    parity = model.conversion["parity"] if model.conversion else {}
    assert parity["tie_rows"] > 0 and parity["labels_equal"] is True
    assert parity["max_abs_diff"] <= model_convert.TOLERANCE
