"""The inference core on the project's model: loading, integrity, validation, outputs."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from project import drift, inference, manifest, settings


def test_predictions_follow_the_manifest(predictor: Any, instances: list[list[float]]) -> None:
    predictions = predictor.predict(instances)
    assert len(predictions) == len(instances)
    classes = predictor.classes
    for prediction in predictions:
        if predictor.is_classifier:
            assert math.isclose(sum(prediction["scores"]), 1.0, abs_tol=1e-4)
            assert prediction["label"] in (classes or range(len(prediction["scores"])))
        else:
            assert "value" in prediction


def test_objects_keyed_by_feature_name_match_lists(predictor: Any) -> None:
    features = predictor.schema.features
    if not features:
        pytest.skip("the model has no feature names")
    row = [float(i) / 10 for i in range(len(features))]
    as_object = dict(zip(features, row, strict=True))
    assert predictor.predict([as_object]) == predictor.predict([row])


def test_batches_give_the_same_scores_as_single_rows(predictor: Any) -> None:
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(16, predictor.schema.n_features)).astype(np.float32)
    together = predictor.run(rows)
    alone = np.concatenate([predictor.run(rows[i : i + 1]) for i in range(16)])
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("mutate", "names_field", "message"),
    [
        (lambda row: row[:-1], False, "expected"),
        (lambda row: [*row[:-1], "x"], True, "must be a number"),
        (lambda row: [*row[:-1], True], True, "must be a number"),
        (lambda row: [*row[:-1], float("nan")], True, "finite"),
        (lambda row: [*row[:-1], 1e39], True, "float32"),
    ],
)
def test_bad_values_are_named(predictor: Any, mutate: Any, names_field: bool, message: str) -> None:
    width = predictor.schema.n_features
    with pytest.raises(inference.InputSchemaError) as caught:
        predictor.to_array([mutate([0.0] * width)])
    (problem,) = caught.value.problems
    field = predictor.schema.field(width - 1)  # the feature name, or the column index
    assert problem.loc == (("instances", 0, field) if names_field else ("instances", 0))
    assert message in problem.msg
    assert str(problem).startswith("instances[0]")


def test_missing_feature_is_named(predictor: Any) -> None:
    features = predictor.schema.features
    if not features:
        pytest.skip("the model has no feature names")
    instance = {name: 0.0 for name in features[1:]}
    with pytest.raises(inference.InputSchemaError) as caught:
        predictor.to_array([{name: 0.0 for name in features}, instance])
    assert f"instances[1].{features[0]}: field required" in str(caught.value)


def test_empty_or_non_list_input_is_refused(predictor: Any) -> None:
    for bad in ([], {}, "x", None):
        with pytest.raises(inference.InputSchemaError):
            predictor.to_array(bad)


def test_tampered_model_is_refused(copied_models: Path, manifest_doc: dict[str, Any]) -> None:
    artifact = copied_models / manifest_doc["file"]
    artifact.write_bytes(artifact.read_bytes() + b"\0")
    with pytest.raises(inference.ModelLoadError) as caught:
        inference.load_predictor(settings.AppSettings(models_dir=copied_models, device="cpu"))
    text = str(caught.value)
    assert "sha256 mismatch" in text
    assert manifest_doc["file"] in text
    assert manifest_doc["sha256"] in text
    assert manifest.sha256_of(artifact) in text


def test_manifest_errors_name_the_field(copied_models: Path, manifest_doc: dict[str, Any]) -> None:
    broken = dict(manifest_doc, sha256="not-a-hash")
    (copied_models / "manifest.json").write_text(json.dumps(broken))
    with pytest.raises(inference.ModelLoadError, match="sha256"):
        inference.load_manifest(copied_models)


def test_manifest_cannot_point_outside_models(
    copied_models: Path, manifest_doc: dict[str, Any]
) -> None:
    (copied_models / "manifest.json").write_text(json.dumps(dict(manifest_doc, file="../x.onnx")))
    with pytest.raises(inference.ModelLoadError, match="outside"):
        inference.load_predictor(settings.AppSettings(models_dir=copied_models))


def test_cuda_is_refused_without_a_gpu(models_dir: Path, manifest_doc: dict[str, Any]) -> None:
    try:
        loaded = inference.load_predictor(
            settings.AppSettings(models_dir=models_dir, device="auto")
        )
    except inference.ModelLoadError as error:  # pragma: no cover - auto never refuses
        pytest.fail(f"device auto must fall back to the CPU: {error}")
    if loaded.info.device == "cuda":
        pytest.skip("a usable GPU is present")
    with pytest.raises(inference.ModelLoadError, match="APP_DEVICE=cuda but no usable GPU"):
        inference.load_predictor(settings.AppSettings(models_dir=models_dir, device="cuda"))


def _use_model_file(models: Path, manifest_doc: dict[str, Any], path: Path) -> None:
    document = dict(manifest_doc, file=path.name, sha256=manifest.sha256_of(path))
    (models / "manifest.json").write_text(json.dumps(document))


def test_pickle_needs_an_explicit_opt_in(
    copied_models: Path, manifest_doc: dict[str, Any], predictor: Any, caplog: Any
) -> None:
    if manifest_doc["framework"] != "sklearn":
        pytest.skip("joblib applies to scikit-learn models")
    import joblib

    pickled = copied_models / "model.joblib"
    joblib.dump(predictor.runtime._model, pickled)
    _use_model_file(copied_models, manifest_doc, pickled)
    with pytest.raises(inference.ModelLoadError, match="APP_ALLOW_UNSAFE_JOBLIB"):
        inference.load_predictor(settings.AppSettings(models_dir=copied_models))
    allowed = settings.AppSettings(models_dir=copied_models, allow_unsafe_joblib=True)
    with caplog.at_level("WARNING"):
        loaded = inference.load_predictor(allowed)
    assert "executes code" in caplog.text
    rows = np.zeros((2, predictor.schema.n_features), dtype=np.float32)
    np.testing.assert_allclose(loaded.run(rows), predictor.run(rows))


def test_skops_refuses_types_outside_sklearn_and_numpy(
    copied_models: Path, manifest_doc: dict[str, Any]
) -> None:
    if manifest_doc["framework"] != "sklearn":
        pytest.skip("skops applies to scikit-learn models")
    import operator

    import skops.io
    from sklearn.preprocessing import FunctionTransformer

    unsafe = copied_models / "unsafe.skops"
    skops.io.dump(FunctionTransformer(operator.neg), unsafe)
    _use_model_file(copied_models, manifest_doc, unsafe)
    with pytest.raises(inference.ModelLoadError, match="outside scikit-learn and numpy"):
        inference.load_predictor(settings.AppSettings(models_dir=copied_models))


def test_torch_state_dict_with_a_factory(
    copied_models: Path, manifest_doc: dict[str, Any], tmp_path: Path, monkeypatch: Any
) -> None:
    torch = pytest.importorskip("torch")
    factory = tmp_path / "state_dict_factory.py"
    width = manifest_doc["input"]["shape"][1]
    factory.write_text(
        "import torch\n\n\n"
        "def build():\n"
        f"    return torch.nn.Sequential(torch.nn.Linear({width}, 2), torch.nn.Softmax(dim=1))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    module = __import__("state_dict_factory").build()
    weights = copied_models / "weights.pth"
    torch.save(module.state_dict(), weights)
    _use_model_file(copied_models, dict(manifest_doc, framework="torch"), weights)
    loaded = inference.load_predictor(
        settings.AppSettings(
            models_dir=copied_models, torch_model_factory="state_dict_factory:build"
        )
    )
    rows = np.ones((3, width), dtype=np.float32)
    with torch.inference_mode():
        expected = module(torch.from_numpy(rows)).numpy()
    np.testing.assert_allclose(loaded.run(rows), expected, rtol=1e-6)


def test_drift_is_small_on_the_baseline_and_large_when_shifted() -> None:
    baseline = manifest.Histogram(edges=[i / 10 for i in range(11)], counts=[10.0] * 10)
    monitor = drift.DriftMonitor(baseline, window=1000)
    assert monitor.value() is None
    monitor.observe(np.linspace(0.0, 0.999, 500))
    same = monitor.value()
    assert same is not None and same < 0.05
    shifted = drift.DriftMonitor(baseline, window=1000)
    shifted.observe(np.full(500, 0.95))
    value = shifted.value()
    assert value is not None and value > 1.0


def test_a_regression_model_predicts_values(
    copied_models: Path, manifest_doc: dict[str, Any]
) -> None:
    framework = manifest_doc["framework"]
    if framework == "torch":
        pytest.skip("the regression check exports with scikit-learn tooling")
    from sklearn.linear_model import LinearRegression

    width = manifest_doc["input"]["shape"][1]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, width)).astype(np.float32)
    model = LinearRegression().fit(x, x @ np.arange(width, dtype=np.float32))
    if framework == "onnx":
        from skl2onnx import to_onnx

        path = copied_models / "regressor.onnx"
        path.write_bytes(to_onnx(model, x[:1]).SerializeToString())
    else:
        import skops.io

        path = copied_models / "regressor.skops"
        skops.io.dump(model, path)
    document = dict(
        manifest_doc,
        task="regression",
        output={"name": None, "classes": None},
        baseline=None,
    )
    _use_model_file(copied_models, document, path)
    loaded = inference.load_predictor(settings.AppSettings(models_dir=copied_models))
    predictions = loaded.predict(x[:3].tolist())
    assert [set(p) for p in predictions] == [{"value"}] * 3
    expected = model.predict(x[:3])
    assert [p["value"] for p in predictions] == pytest.approx(expected.tolist(), rel=1e-4)


def test_an_onnx_graph_with_a_fixed_batch_size_still_serves_batches(
    copied_models: Path, manifest_doc: dict[str, Any], predictor: Any
) -> None:
    if manifest_doc["framework"] != "onnx":
        pytest.skip("a fixed batch dimension is an ONNX export matter")
    import onnx

    graph = onnx.load(copied_models / manifest_doc["file"])
    graph.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    fixed = copied_models / "fixed.onnx"
    onnx.save(graph, fixed)
    _use_model_file(copied_models, manifest_doc, fixed)
    loaded = inference.load_predictor(settings.AppSettings(models_dir=copied_models))
    assert not loaded.gains_from_batching
    rows = np.linspace(0, 1, 5 * predictor.schema.n_features, dtype=np.float32).reshape(5, -1)
    np.testing.assert_allclose(loaded.run(rows), predictor.run(rows), rtol=1e-5, atol=1e-6)
