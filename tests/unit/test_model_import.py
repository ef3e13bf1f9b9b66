"""``--model``: real model files are checked, described and installed; bad ones are refused."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from onnx import TensorProto

from mlship.errors import InputError
from mlship.new.model_import import inspect_model, install_model
from tests.model_files import FEATURES, logistic_regression, onnx_classifier, onnx_graph, skops_file


def _schema(tmp_path: Path, body: object, name: str = "schema.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(body))
    return path


def test_a_skops_classifier_gives_its_features_and_classes_without_being_loaded(
    tmp_path: Path,
) -> None:
    model = inspect_model(skops_file(tmp_path / "churn.skops"), convert=False)
    facts = model.facts
    assert model.framework == "sklearn" and facts.estimator is None
    assert (facts.n_features, facts.features) == (4, FEATURES)
    assert facts.classes == [0, 1]
    assert (facts.task, facts.output_name, facts.dtype) == (
        "classification",
        "probabilities",
        "float32",
    )


def test_installing_copies_the_file_and_writes_a_verifiable_manifest(tmp_path: Path) -> None:
    source = skops_file(tmp_path / "churn.skops")
    manifest = install_model(inspect_model(source, convert=False), tmp_path / "project" / "models")
    models = tmp_path / "project" / "models"
    copied = models / "churn.skops"
    assert copied.read_bytes() == source.read_bytes()
    assert manifest == json.loads((models / "manifest.json").read_text())
    assert manifest["sha256"] == hashlib.sha256(copied.read_bytes()).hexdigest()
    assert manifest["file"] == "churn.skops"
    assert (manifest["source"], manifest["framework"], manifest["name"]) == (
        "user",
        "sklearn",
        "churn",
    )
    assert manifest["input"] == {
        "name": "input",
        "dtype": "float32",
        "shape": [None, 4],
        "features": FEATURES,
    }
    assert manifest["output"] == {"name": "probabilities", "classes": [0, 1]}
    assert manifest["created"].endswith("Z")


def test_a_skops_pipeline_reads_inputs_from_its_first_step_and_classes_from_its_last(
    tmp_path: Path,
) -> None:
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from tests.model_files import training_data

    x, y = training_data()
    pipe = make_pipeline(StandardScaler(), logistic_regression(with_names=False)).fit(x, y)
    facts = inspect_model(skops_file(tmp_path / "p.skops", pipe)).facts
    assert (facts.n_features, facts.features, facts.classes) == (4, None, [0, 1])

    regressor = LinearRegression().fit(x[:, :3], y.astype(float))
    facts = inspect_model(skops_file(tmp_path / "r.skops", regressor)).facts
    assert (facts.n_features, facts.task, facts.classes) == (3, "regression", None)


def test_a_skops_model_whose_schema_is_silent_is_loaded_showing_the_trusted_types(
    tmp_path: Path,
) -> None:
    """GridSearchCV exposes n_features_in_ as a property: it is not in the saved state."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV

    from tests.model_files import training_data

    x, y = training_data()
    search = GridSearchCV(LogisticRegression(max_iter=1000), {"C": [0.1, 1.0]}, cv=2).fit(x, y)
    model = inspect_model(skops_file(tmp_path / "search.skops", search))
    assert (model.facts.n_features, model.facts.classes) == (4, [0, 1])
    (warning,) = model.warnings
    assert "n_features_in_ is not in the skops schema" in warning
    assert "sklearn.model_selection._split.StratifiedKFold" in warning


def test_an_onnx_classifier_gives_input_dtype_shape_classes_and_scores_output(
    tmp_path: Path,
) -> None:
    model = inspect_model(onnx_classifier(tmp_path / "m.onnx"))
    facts = model.facts
    assert model.framework == "onnx"
    assert (facts.input_name, facts.dtype, facts.n_features) == ("X", "float32", 4)
    assert (facts.classes, facts.task, facts.output_name) == (
        [0, 1],
        "classification",
        "probabilities",
    )
    assert facts.features is None


def test_a_classifier_without_class_labels_serves_its_score_matrix(tmp_path: Path) -> None:
    """A label output beside a float (batch x classes) matrix: the scores are served."""
    from onnx import checker, helper

    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 3])
    label = helper.make_tensor_value_info("label", TensorProto.INT64, [None])
    scores = helper.make_tensor_value_info("scores", TensorProto.FLOAT, [None, 3])
    nodes = [
        helper.make_node("Softmax", ["input"], ["scores"], axis=1),
        helper.make_node("ArgMax", ["scores"], ["label"], axis=1, keepdims=0),
    ]
    graph = helper.make_graph(nodes, "g", [x], [label, scores])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    checker.check_model(model)
    path = tmp_path / "mlp.onnx"
    path.write_bytes(model.SerializeToString())
    facts = inspect_model(path).facts
    assert (facts.output_name, facts.task, facts.classes) == ("scores", "classification", None)


def test_an_input_schema_names_the_features_of_an_onnx_model(tmp_path: Path) -> None:
    path = onnx_classifier(tmp_path / "m.onnx")
    model = inspect_model(path, input_schema=_schema(tmp_path, {"features": FEATURES}))
    assert model.facts.features == FEATURES
    with pytest.raises(InputError) as caught:
        inspect_model(path, input_schema=_schema(tmp_path, {"n_features": 7}))
    assert "describes 7 features but the model m.onnx takes 4" in caught.value.message


def test_an_onnx_classifier_with_a_zipmap_output_is_refused(tmp_path: Path) -> None:
    from skl2onnx import to_onnx

    from tests.model_files import training_data

    x, _ = training_data()
    path = tmp_path / "zipmap.onnx"
    path.write_bytes(to_onnx(logistic_regression(with_names=False), x[:1]).SerializeToString())
    with pytest.raises(InputError) as caught:
        inspect_model(path)
    assert "ZipMap" in caught.value.message
    assert "'zipmap': False" in (caught.value.hint or "")


def test_an_onnx_model_with_two_inputs_is_refused(tmp_path: Path) -> None:
    path = onnx_graph(
        tmp_path / "two.onnx",
        [("a", TensorProto.FLOAT, ["batch", 3]), ("b", TensorProto.FLOAT, ["batch", 3])],
    )
    with pytest.raises(InputError) as caught:
        inspect_model(path)
    assert str(path) in caught.value.message
    assert "2 inputs ('a', 'b')" in caught.value.message
    assert "exactly one input" in caught.value.message


def test_an_onnx_model_with_a_3d_input_is_refused(tmp_path: Path) -> None:
    path = onnx_graph(tmp_path / "img.onnx", [("pixels", TensorProto.FLOAT, ["batch", 28, 28])])
    with pytest.raises(InputError) as caught:
        inspect_model(path)
    assert "shape ['?', 28, 28]" in caught.value.message
    assert "2-D input" in caught.value.message


def test_an_onnx_model_with_float64_input_is_refused(tmp_path: Path) -> None:
    path = onnx_graph(tmp_path / "f64.onnx", [("x", TensorProto.DOUBLE, ["batch", 5])])
    with pytest.raises(InputError) as caught:
        inspect_model(path)
    assert "dtype float64" in caught.value.message


def test_an_onnx_model_without_a_fixed_feature_count_needs_a_schema(tmp_path: Path) -> None:
    path = onnx_graph(tmp_path / "any.onnx", [("x", TensorProto.FLOAT, ["batch", "n"])])
    with pytest.raises(InputError) as caught:
        inspect_model(path)
    assert "--input-schema" in (caught.value.hint or "")
    assert (
        inspect_model(path, input_schema=_schema(tmp_path, {"n_features": 6})).facts.n_features == 6
    )


@pytest.mark.parametrize("suffix", [".onnx", ".skops"])
def test_a_corrupt_model_file_is_refused_naming_the_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"broken{suffix}"
    path.write_bytes(b"\x08\x07this is not a model\xff" * 10)
    with pytest.raises(InputError) as caught:
        inspect_model(path)
    assert caught.value.message.startswith(f"model: {path}: not a")


def test_a_torch_model_without_input_schema_says_input_schema_is_needed(tmp_path: Path) -> None:
    path = tmp_path / "net.pt"
    path.write_bytes(b"anything")
    with pytest.raises(InputError) as caught:
        inspect_model(path)
    assert str(path) in caught.value.message
    assert "--input-schema FILE is needed" in caught.value.message


def test_a_torch_file_that_is_not_a_torch_archive_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "net.pt"
    path.write_bytes(b"not a zip")
    with pytest.raises(InputError) as caught:
        inspect_model(path, input_schema=_schema(tmp_path, {"n_features": 4}))
    assert "not a torch archive" in caught.value.message
    other = tmp_path / "other.pt"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(InputError) as caught:
        inspect_model(other, input_schema=_schema(tmp_path, {"n_features": 4}))
    assert "not one written by torch" in caught.value.message


def test_a_pickle_is_refused_unless_trusted_and_then_converted_to_skops(tmp_path: Path) -> None:
    import joblib
    import skops.io as sio

    path = tmp_path / "legacy.joblib"
    joblib.dump(logistic_regression(), path)
    with pytest.raises(InputError) as caught:
        inspect_model(path)
    assert "runs code" in caught.value.message
    assert "--trust-pickle" in (caught.value.hint or "")

    model = inspect_model(path, trust_pickle=True, convert=False)
    assert model.file_name == "legacy.skops"
    assert any("unpickled" in w for w in model.warnings)
    manifest = install_model(model, tmp_path / "models")
    assert manifest["file"] == "legacy.skops"
    assert manifest["input"]["features"] == FEATURES
    restored = sio.load(
        tmp_path / "models" / "legacy.skops",
        trusted=sio.get_untrusted_types(file=tmp_path / "models" / "legacy.skops"),
    )
    assert list(restored.classes_) == [0, 1]


def test_a_pickle_that_is_not_an_estimator_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "numbers.pkl"
    path.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(InputError) as caught:
        inspect_model(path, trust_pickle=True)
    assert "holds a list, not a fitted estimator" in caught.value.message


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"n_features": 0}, "n_features"),
        ({"features": ["a", "a"]}, "unique"),
        ({}, "give features"),
        ({"n_features": 3, "colour": "red"}, "colour: unknown key"),
        ({"n_features": 3, "dtype": "float64"}, "dtype"),
        ({"features": ["a", "b"], "n_features": 3}, "n_features is 3 but 2 features are named"),
    ],
)
def test_an_invalid_input_schema_is_refused_naming_the_file_and_field(
    tmp_path: Path, body: object, says: str
) -> None:
    schema = _schema(tmp_path, body)
    with pytest.raises(InputError) as caught:
        inspect_model(skops_file(tmp_path / "m.skops"), input_schema=schema)
    assert str(schema) in caught.value.message
    assert any(says in p for p in caught.value.problems), caught.value.problems


def test_input_schema_that_is_not_json_is_refused(tmp_path: Path) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text("features: [a, b]")
    with pytest.raises(InputError) as caught:
        inspect_model(skops_file(tmp_path / "m.skops"), input_schema=schema)
    assert "not a JSON file" in caught.value.message


def test_file_type_format_and_existence_are_checked_first(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        inspect_model(tmp_path / "missing.onnx")
    odd = tmp_path / "model.h5"
    odd.write_bytes(b"x")
    with pytest.raises(InputError) as caught:
        inspect_model(odd)
    assert "unknown model file type '.h5'" in caught.value.message
    assert ".onnx" in (caught.value.hint or "")
    with pytest.raises(InputError) as caught:
        inspect_model(onnx_classifier(tmp_path / "m.onnx"), model_format="sklearn")
    assert "does not match the model file m.onnx, whose format is onnx" in caught.value.message


def test_a_file_name_that_is_unsafe_on_disk_is_replaced(tmp_path: Path) -> None:
    model = inspect_model(skops_file(tmp_path / "my model (v2).skops"))
    assert (model.file_name, model.source_file_name) == ("model.onnx", "model.skops")
    assert model.name == "my-model-v2"


# --- real torch files (slow: installs the pinned CPU torch into a folder of its own) --------

TORCH_SCRIPT = """
import sys, torch
class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 2)
    def forward(self, x):
        return torch.softmax(self.linear(x), dim=1)
net = Net().eval()
torch.jit.save(torch.jit.script(net), sys.argv[1] + "/net.pt")
torch.save(net.state_dict(), sys.argv[1] + "/weights.pth")
torch.jit.save(torch.jit.script(net), sys.argv[1] + "/scripted.pth")
torch.save(net.state_dict(), sys.argv[1] + "/weights.pt")
"""


@pytest.fixture(scope="module")
def torch_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(folder with torch files, folder with torch installed) made with the pinned torch.

    The folder also holds pydantic-settings: the generated service core's settings need it
    and mlship's own environment does not.
    """
    from mlship.new.plan import load_pins

    pins = load_pins()
    site = tmp_path_factory.mktemp("torch-site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--target",
            str(site),
            f"torch=={pins['torch']}",
            f"pydantic=={pins['pydantic']}",
            f"pydantic-settings=={pins['pydantic-settings']}",
        ],
        check=True,
        timeout=900,
    )
    files = tmp_path_factory.mktemp("torch-files")
    env = {**os.environ, "PYTHONPATH": str(site)}
    script = files / "make_models.py"  # a file: torch.jit.script reads the class source
    script.write_text(TORCH_SCRIPT)
    subprocess.run([sys.executable, str(script), str(files)], check=True, env=env, timeout=300)
    return files, site


@pytest.mark.slow
def test_real_torch_files_are_told_apart_by_their_archive_layout(
    torch_files: tuple[Path, Path], tmp_path: Path
) -> None:
    files, _ = torch_files
    schema = _schema(tmp_path, {"features": FEATURES, "classes": [0, 1]})
    scripted = inspect_model(files / "net.pt", input_schema=schema)
    assert (scripted.framework, scripted.facts.n_features, scripted.facts.task) == (
        "torch",
        4,
        "classification",
    )
    assert scripted.warnings == []
    state_dict = inspect_model(files / "weights.pth", input_schema=schema)
    assert any("APP_TORCH_MODEL_FACTORY" in w for w in state_dict.warnings)
    with pytest.raises(InputError, match=r"TorchScript saved as \.pth"):
        inspect_model(files / "scripted.pth", input_schema=schema)
    with pytest.raises(InputError, match="not TorchScript"):
        inspect_model(files / "weights.pt", input_schema=schema)


@pytest.mark.slow
def test_the_generated_service_core_serves_an_imported_torchscript_model(
    torch_files: tuple[Path, Path], tmp_path: Path
) -> None:
    """Cross-check of the manifest contract with the project's own loader."""
    from mlship.new.project import new_project
    from mlship.new.spec import ProjectSpec

    files, site = torch_files
    schema = _schema(tmp_path, {"features": FEATURES, "classes": [0, 1]})
    spec = ProjectSpec(pattern="online", model=files / "net.pt", input_schema=schema, git=False)
    dest = tmp_path / "svc"
    new_project(spec, dest)
    code = (
        "from svc.inference.predictor import load_predictor\n"
        "from svc.settings import AppSettings\n"
        "p = load_predictor(AppSettings(models_dir='models', device='cpu'))\n"
        "print(p.predict([[14.0, 20.0, 90.0, 600.0]]))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(dest / "src"), str(site)])}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=dest, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "'scores': [" in done.stdout and "'label': " in done.stdout


@pytest.mark.parametrize(
    ("suffix", "blocked", "trust"),
    [(".onnx", "onnx", False), (".skops", "skops", False), (".joblib", "sklearn", True)],
)
def test_a_missing_reader_library_names_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str, blocked: str, trust: bool
) -> None:
    """A plain install lacks the readers: exit 2 with the extra to install, no traceback."""
    path = tmp_path / f"m{suffix}"
    if suffix == ".onnx":
        onnx_classifier(path)
    elif suffix == ".skops":
        skops_file(path)
    else:
        import joblib

        joblib.dump(logistic_regression(), path)
    monkeypatch.setitem(sys.modules, blocked, None)
    with pytest.raises(InputError) as caught:
        inspect_model(path, trust_pickle=trust)
    assert caught.value.exit_code == 2
    assert f"reading m{suffix} needs {blocked}" in caught.value.message
    assert "pip install 'mlship[models]'" in (caught.value.hint or "")


def test_an_untrusted_pickle_is_refused_before_any_reader_is_needed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps([1]))
    monkeypatch.setitem(sys.modules, "joblib", None)
    with pytest.raises(InputError, match="runs code"):
        inspect_model(path)
