"""The edge pipeline on the project's model: export, parity, quantization, budget, bundle."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from project import MODELS, module

export = module("export")
pipeline = module("export.pipeline")
quantize = module("export.quantize")
config_module = module("export.config")
cli = module("export.__main__")

QUICK = {"benchmark": {"seconds_per_case": 0.05, "max_runs": 20, "load_repeats": 1}}


def quick_config(**overrides: Any) -> Any:
    return config_module.ExportConfig.model_validate({**QUICK, **overrides})


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("export")
    record = root / "mlship.yaml"
    record.write_text("answers:\n  hardware:\n    target: mobile\n    device_memory_mb: 256\n")
    options = pipeline.Options(
        models_dir=models_dir,
        dist=root / "dist",
        work=root / "work",
        record=record,
        quiet=True,
    )
    report: dict[str, Any] = pipeline.run_pipeline(quick_config(), options)
    return {"report": report, "dist": root / "dist", "root": root}


def test_bundle_holds_a_verified_model(exported: dict[str, Any]) -> None:
    dist = exported["dist"]
    manifest = json.loads((dist / "manifest.json").read_text())
    model = dist / manifest["file"]
    assert module("inference.manifest").sha256_of(model) == manifest["sha256"]
    onnx.checker.check_model(str(model))
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    width = manifest["input"]["shape"][1]
    scores = session.run([manifest["output"]["name"]], {"input": np.zeros((3, width), np.float32)})
    assert np.asarray(scores[0]).shape[0] == 3
    assert manifest["edge"]["variant"] == exported["report"]["recommendation"]["variant"]
    assert {"report.json", "report.md", "report.html"} <= {p.name for p in dist.iterdir()}


def test_every_variant_is_checked_and_timed(exported: dict[str, Any]) -> None:
    report = exported["report"]
    names = [v["name"] for v in report["variants"]]
    assert names[0] == "fp32"
    skipped = [s["variant"] for s in report["not_applicable"]]
    assert sorted(names[1:] + skipped) == ["dynamic"]
    for variant in report["variants"]:
        assert variant["parity"]["rows"] > 0
        assert variant["benchmark"]["single"]["p99_ms"] > 0
        assert variant["budget"]["verdict"] in ("PASS", "FAIL")
    assert report["budget"]["target"] == "mobile"
    assert report["budget"]["device_memory_mb"] == 256


def test_mobile_bundle_has_a_checked_ort_format_model(exported: dict[str, Any]) -> None:
    dist = exported["dist"]
    session = ort.InferenceSession(str(dist / "model.ort"), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].name == "input"
    assert any("LiteRT" in note for note in exported["report"]["bundle"]["notes"])


def test_bundled_example_predicts(exported: dict[str, Any]) -> None:
    dist = exported["dist"]
    width = json.loads((dist / "manifest.json").read_text())["input"]["shape"][1]
    done = subprocess.run(
        [sys.executable, str(dist / "predict.py"), json.dumps([[0.0] * width, [1.0] * width])],
        capture_output=True,
        text=True,
        check=True,
    )
    assert len(json.loads(done.stdout)["predictions"]) == 2


def alter(model: Any) -> None:
    """Change the model's largest weights: an initializer, or a float attribute list
    (scikit-learn linear and tree operators keep their numbers in attributes)."""
    if model.graph.initializer:
        weights = max(model.graph.initializer, key=lambda t: int(np.prod(t.dims)))
        array = onnx.numpy_helper.to_array(weights)
        weights.CopyFrom(onnx.numpy_helper.from_array(array * 1.5 + 0.1, weights.name))
        return
    attributes = [a for node in model.graph.node for a in node.attribute if len(a.floats) > 1]
    target = max(attributes, key=lambda a: len(a.floats))
    values = [v * -1.5 + 0.1 for v in target.floats]
    del target.floats[:]
    target.floats.extend(values)


def test_an_altered_model_fails_parity(exported: dict[str, Any], models_dir: Path) -> None:
    fp32 = exported["root"] / "work" / "model.fp32.onnx"
    model = onnx.load(str(fp32))
    alter(model)
    altered = exported["root"] / "altered.onnx"
    onnx.save_model(model, str(altered))
    assert cli.main(["--models-dir", str(models_dir), "verify", "--model", str(fp32)]) == 0
    code = cli.main(["--models-dir", str(models_dir), "verify", "--model", str(altered)])
    assert code == 1


def test_too_little_memory_fails_the_budget(tmp_path: Path, models_dir: Path) -> None:
    record = tmp_path / "mlship.yaml"
    record.write_text(
        "answers:\n  hardware:\n    device_memory_mb: 1.0e-6\nbudget:\n  p99_ms: 50\n"
    )
    options = pipeline.Options(
        models_dir=models_dir,
        dist=tmp_path / "dist",
        work=tmp_path / "work",
        record=record,
        target="server",
        variants=[],
        quiet=True,
    )
    report = pipeline.run_pipeline(quick_config(), options)
    (fp32,) = report["variants"]
    assert fp32["budget"]["verdict"] == "FAIL"
    memory = next(c for c in fp32["budget"]["checks"] if c["check"] == "memory")
    assert not memory["passed"] and "MiB" in memory["detail"]
    assert report["recommendation"] == {
        "variant": "fp32",
        "why": report["recommendation"]["why"],
        "meets_budget": False,
    }


def test_ml_operator_graphs_are_not_applicable(tmp_path: Path) -> None:
    pytest.importorskip("skl2onnx")
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4)).astype(np.float32)
    model = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
    path = tmp_path / "linear.onnx"
    path.write_bytes(to_onnx(model, x[:1], options={"zipmap": False}).SerializeToString())
    made = quantize.make_variant("dynamic", path, tmp_path, x)
    assert not made.applicable and made.path is None
    assert "int8" in made.reason
    assert not (tmp_path / "model.dynamic.onnx").exists()


def test_bad_settings_are_named(tmp_path: Path) -> None:
    bad = tmp_path / "export.yaml"
    bad.write_text("opset: 3\nvariantz: [dynamic]\n")
    with pytest.raises(config_module.ConfigError) as caught:
        config_module.load_config(bad)
    assert "opset" in str(caught.value) and "variantz" in str(caught.value)


def test_unknown_variant_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["run", "--variants", "int4"])
    assert caught.value.code == 2
    assert "int4" in capsys.readouterr().err


def test_models_dir_default_is_the_project(models_dir: Path) -> None:
    assert models_dir == MODELS


def test_torch_module_exports_with_the_newer_exporter(
    copied_models: Path, manifest_doc: dict[str, Any], tmp_path: Path, monkeypatch: Any
) -> None:
    """A state dict plus a factory is a plain nn.Module: torch.export-based exporter."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxscript")
    width = manifest_doc["input"]["shape"][1]
    classes = len(manifest_doc["output"]["classes"] or [0, 1])
    factory = tmp_path / "edge_factory.py"
    factory.write_text(
        "import torch\n\n\n"
        "def build():\n"
        "    return torch.nn.Sequential(\n"
        f"        torch.nn.Linear({width}, 256),\n"
        "        torch.nn.ReLU(),\n"
        f"        torch.nn.Linear(256, {classes}),\n"
        "        torch.nn.Softmax(dim=1),\n"
        "    )\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("APP_TORCH_MODEL_FACTORY", "edge_factory:build")
    torch.manual_seed(0)
    weights = copied_models / "weights.pth"
    torch.save(__import__("edge_factory").build().state_dict(), weights)
    document = dict(
        manifest_doc,
        framework="torch",
        file=weights.name,
        sha256=module("inference.manifest").sha256_of(weights),
        source="user",
    )
    (copied_models / "manifest.json").write_text(json.dumps(document))
    options = pipeline.Options(
        models_dir=copied_models,
        dist=tmp_path / "dist",
        work=tmp_path / "work",
        record=tmp_path / "none.yaml",
        target="server",
        quiet=True,
    )
    report = pipeline.run_pipeline(quick_config(), options)
    assert "torch.export" in report["export"]["exporter"]
    assert report["export"]["external_data"] == []
    assert not list((tmp_path / "work").glob("*.data"))
    assert isinstance(report["export"]["inputs"][0]["shape"][0], str)  # dynamic batch axis
    assert report["variants"][0]["parity"]["passed"]
    assert "random" in report["sample"]["origin"]


def test_a_sample_file_is_used_and_checked(
    exported: dict[str, Any], models_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fp32 = str(exported["root"] / "work" / "model.fp32.onnx")
    width = json.loads((models_dir / "manifest.json").read_text())["input"]["shape"][1]
    rows = np.random.default_rng(3).uniform(0, 1, size=(20, width)).astype(np.float32)
    good = tmp_path / "sample.npz"
    np.savez(good, x=rows)
    args = ["--models-dir", str(models_dir), "--sample"]
    assert cli.main([*args, str(good), "verify", "--model", fp32]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == 20
    narrow = tmp_path / "narrow.npy"
    np.save(narrow, rows[:, :-1])
    assert cli.main([*args, str(narrow), "verify", "--model", fp32]) == 2
    assert f"the model takes (n, {width})" in capsys.readouterr().err


def test_scores_not_labels_are_compared(
    copied_models: Path, manifest_doc: dict[str, Any], tmp_path: Path
) -> None:
    """A manifest may name an ONNX model's integer label output; parity uses the scores."""
    if manifest_doc["framework"] != "onnx":
        pytest.skip("applies to ONNX source models")
    outputs = [o.name for o in onnx.load(str(copied_models / manifest_doc["file"])).graph.output]
    if "label" not in outputs:
        pytest.skip("the model has no label output")
    document = dict(manifest_doc, output={"name": "label", "classes": None}, task="unknown")
    (copied_models / "manifest.json").write_text(json.dumps(document))
    options = pipeline.Options(
        models_dir=copied_models,
        dist=tmp_path / "dist",
        work=tmp_path / "work",
        record=tmp_path / "none.yaml",
        variants=[],
        quiet=True,
    )
    report = pipeline.run_pipeline(quick_config(), options)
    assert report["export"]["score_output"] == "probabilities"
    assert report["variants"][0]["parity"]["label_agreement"] == 1.0


def test_outputs_without_classes_are_judged_by_their_range() -> None:
    parity = module("export.parity")
    tolerance = quick_config().tolerances["dynamic"]
    reference = np.linspace(0.0, 100.0, 50)
    close = parity.compare(reference, reference + 1.0, tolerance)
    assert close.passed and close.label_agreement is None
    far = parity.compare(reference, reference + 10.0, tolerance)
    assert not far.passed
    assert "10.00% of the output's range" in far.problems[0]
