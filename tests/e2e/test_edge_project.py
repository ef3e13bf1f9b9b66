"""Generated edge projects, rendered by ``mlship new``, installed and run for real.

Each project comes from a decision record saved by ``mlship recommend`` (so the target,
device memory and p99 budget reach the pipeline the way a user's do), is installed with
``make install`` into a fresh venv, builds its demo model, passes its own tests and lint,
and runs ``make export``. The tests then check what a device team would: the exported and
quantized models load and run in onnxruntime and agree with the source, an altered model
fails parity, the browser page gives onnxruntime's prediction in headless Chromium, and
the mobile bundle carries a checked ORT-format model while saying plainly that a
scikit-learn model stays ONNX-only. The PyTorch project (slow) goes through every runtime:
LiteRT and ExecuTorch checked in their own interpreters, Core ML converted and validated.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from .conftest import Venv, free_port

pytestmark = pytest.mark.e2e

INSTALL_TIMEOUT_S = 1200
EXPORT_TIMEOUT_S = 600
CHROMIUM_TIMEOUT_S = 90
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class EdgeProject:
    """A rendered edge project and the venv it is installed in."""

    def __init__(self, path: Path, package: str, venv: Venv) -> None:
        self.path, self.package, self.venv = path, package, venv

    def run(
        self, *args: str, timeout: float = EXPORT_TIMEOUT_S, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            list(args),
            cwd=self.path,
            env=self.venv.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            pytest.fail(
                f"{' '.join(args)} exited {result.returncode}\n"
                f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"
            )
        return result

    def python(self, code: str, *args: str) -> Any:
        """Run ``code`` in the project's venv; it prints one JSON document."""
        done = self.run(str(self.venv.python), "-c", code, *args)
        return json.loads(done.stdout.strip().splitlines()[-1])

    def report(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((self.path / "dist" / "report.json").read_text())
        return loaded


def mlship(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "mlship", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result


def new_edge_project(
    root: Path, name: str, answers: dict[str, Any], *new_args: str
) -> tuple[Path, str]:
    """``mlship recommend --save-to`` then ``mlship new --from``, as a user would."""
    answers_file = root / f"{name}-answers.yaml"
    answers_file.write_text(yaml.safe_dump(answers))
    record = root / f"{name}-record.yaml"
    recommended = mlship(
        "recommend", "--answers", str(answers_file), "--save-to", str(record), "--json", cwd=root
    )
    assert json.loads(recommended.stdout)["pattern"] == "edge"
    made = mlship(
        "new",
        "--from",
        str(record),
        str(root / name),
        "--defaults",
        "--no-git",
        "--json",
        *new_args,
        cwd=root,
    )
    assert json.loads(made.stdout)["next"][-1] == "make export"
    package = name.replace("-", "_")
    return root / name, package


def installed(path: Path, package: str, venv_dir: Path, *extra_env: str) -> EdgeProject:
    """A fresh venv with the project installed by ``make install``."""
    if not venv_dir.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv_dir)], check=True)
    project = EdgeProject(path, package, Venv(venv_dir))
    project.run("make", "install", timeout=INSTALL_TIMEOUT_S)
    return project


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


RUN_MODEL = """
import json, sys
import numpy as np
import onnxruntime as ort
session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
rows = np.asarray(json.loads(sys.argv[2]), dtype=np.float32)
output = sys.argv[3]
print(json.dumps(session.run([output], {session.get_inputs()[0].name: rows})[0].tolist()))
"""

ALTER_MODEL = """
import sys
import numpy as np
import onnx
from onnx import numpy_helper
model = onnx.load(sys.argv[1])
weights = max(model.graph.initializer, key=lambda t: int(np.prod(t.dims)))
array = numpy_helper.to_array(weights)
weights.CopyFrom(numpy_helper.from_array((array * 1.5 + 0.05).astype(array.dtype), weights.name))
onnx.save_model(model, sys.argv[2])
print("{}")
"""


# ------------------------------------------------------------------ scikit-learn MLP, browser


@pytest.fixture(scope="module")
def venv_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One venv for the onnx and sklearn projects: the second install adds only skops."""
    return tmp_path_factory.mktemp("edge-venv") / "venv"


@pytest.fixture(scope="module")
def browser_project(tmp_path_factory: pytest.TempPathFactory, venv_dir: Path) -> EdgeProject:
    root = tmp_path_factory.mktemp("edge-browser")
    answers = {
        "traffic": {"arrival": "on-device"},
        "latency": {"p99_ms": 20},
        "hardware": {"target": "browser", "device_memory_mb": 512, "offline": True},
        "model": {"framework": "sklearn"},
    }
    path, package = new_edge_project(root, "digits-web", answers)
    project = installed(path, package, venv_dir)
    project.run("make", "model")
    project.run("make", "export")
    return project


def test_project_tests_and_lint_pass(browser_project: EdgeProject) -> None:
    browser_project.run("make", "test")
    browser_project.run("make", "lint")


def test_budget_comes_from_the_decision_record(browser_project: EdgeProject) -> None:
    report = browser_project.report()
    budget = report["budget"]
    assert (budget["target"], budget["device_memory_mb"], budget["p99_ms"]) == ("browser", 512, 20)
    assert "mlship.yaml" in budget["sources"]["target"]
    for variant in report["variants"]:
        names = {check["check"] for check in variant["budget"]["checks"]}
        assert names == {"memory", "latency", "parity"}
    markdown = (browser_project.path / "dist" / "report.md").read_text()
    assert "Ship:" in markdown and "device factor 2" in markdown


def test_int8_pays_off_on_the_demo_model(browser_project: EdgeProject) -> None:
    report = browser_project.report()
    assert [v["name"] for v in report["variants"]] == ["fp32", "dynamic"]
    ratios = report["ratios"]["dynamic"]
    assert ratios["size_ratio"] > 3.0  # int8 weights: about a quarter of the file
    # Timings on a shared 2-core machine are noisy: only the batch case, with a margin.
    assert ratios["batch_speedup"] > 1.2, ratios
    dynamic = report["variants"][1]
    assert dynamic["parity"]["passed"] and dynamic["parity"]["label_agreement"] >= 0.97
    assert abs(ratios["accuracy_delta"]) <= 0.02
    assert report["recommendation"]["variant"] == "dynamic"


def test_exported_and_quantized_models_run_in_onnxruntime(browser_project: EdgeProject) -> None:
    work = browser_project.path / "build" / "export"
    rows = np.random.default_rng(1).uniform(0, 16, size=(5, 64)).round().tolist()
    scores = {
        name: np.asarray(
            browser_project.python(
                RUN_MODEL, str(work / f"model.{name}.onnx"), json.dumps(rows), "probabilities"
            )
        )
        for name in ("fp32", "dynamic")
    }
    for value in scores.values():
        assert value.shape == (5, 10)
        np.testing.assert_allclose(value.sum(axis=1), 1.0, atol=1e-4)
    assert (scores["fp32"].argmax(axis=1) == scores["dynamic"].argmax(axis=1)).mean() >= 0.8
    manifest = json.loads((browser_project.path / "dist" / "manifest.json").read_text())
    assert manifest["sha256"] == sha256(browser_project.path / "dist" / "model.onnx")
    assert manifest["edge"]["variant"] == "dynamic"
    assert manifest["edge"]["onnx_inputs"][0]["shape"] == ["N", 64] or manifest["edge"][
        "onnx_inputs"
    ][0]["shape"][0] in (None, "N", "batch")


def test_bundled_python_example_runs(browser_project: EdgeProject) -> None:
    dist = browser_project.path / "dist"
    done = browser_project.run(
        str(browser_project.venv.python), str(dist / "predict.py"), json.dumps([[0.0] * 64])
    )
    (prediction,) = json.loads(done.stdout)["predictions"]
    assert prediction["label"] in range(10)


def test_altered_model_fails_parity(browser_project: EdgeProject, tmp_path: Path) -> None:
    fp32 = browser_project.path / "build" / "export" / "model.fp32.onnx"
    altered = tmp_path / "altered.onnx"
    browser_project.python(ALTER_MODEL, str(fp32), str(altered))
    module = f"{browser_project.package}.export"
    python = str(browser_project.venv.python)
    browser_project.run(python, "-m", module, "verify", "--model", str(fp32))
    failed = browser_project.run(
        python, "-m", module, "verify", "--model", str(altered), check=False
    )
    assert failed.returncode == 1, failed.stderr
    assert "parity check failed" in failed.stderr
    assert re.search(r"row \d+: max abs diff", failed.stderr)
    assert json.loads(failed.stdout)["passed"] is False


def test_export_is_idempotent(browser_project: EdgeProject) -> None:
    dist = browser_project.path / "dist"
    before = {p.name: sha256(p) for p in (dist / "model.onnx", dist / "manifest.json")}
    browser_project.run("make", "export", "ARGS=--threads 1")
    assert sha256(dist / "model.onnx") == before["model.onnx"]
    assert (dist / "web" / "index.html").is_file()
    assert not list((browser_project.path / "build" / "export").glob("bundle-*"))


@contextlib.contextmanager
def static_server(root: Path) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)


def page_dom(url: str) -> str:
    """The page's DOM once its scripts settled, from headless Chromium (retried: first
    start of a fresh profile can race the local server)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("this test needs Debian's chromium: apt-get install chromium (.ci/run does)")
    dom = ""
    for _ in range(3):
        with tempfile.TemporaryDirectory(prefix="edge-chromium-") as profile:
            done = subprocess.run(
                [
                    chromium,
                    *CHROMIUM_FLAGS,
                    f"--user-data-dir={profile}",
                    "--virtual-time-budget=20000",
                    "--dump-dom",
                    url,
                ],
                capture_output=True,
                text=True,
                timeout=CHROMIUM_TIMEOUT_S,
                env={**os.environ, "HOME": profile},
            )
        dom = done.stdout
        if 'id="status">done<' in dom:
            return dom
    return dom


def test_browser_page_predicts_like_onnxruntime(browser_project: EdgeProject) -> None:
    dist = browser_project.path / "dist"
    vendored = sorted(p.name for p in (dist / "web" / "ort").iterdir())
    assert any(name.endswith(".wasm") for name in vendored)
    page = (dist / "web" / "index.html").read_text() + (dist / "web" / "app.js").read_text()
    assert "http://" not in page and "https://" not in page  # no CDN
    example = json.loads((dist / "web" / "example.json").read_text())
    expected = np.asarray(
        browser_project.python(
            RUN_MODEL,
            str(dist / "model.onnx"),
            json.dumps([example["instance"]]),
            example["output_name"],
        )
    )[0]
    with static_server(dist) as base:
        dom = page_dom(f"{base}/web/index.html")
    assert 'id="status">done<' in dom, dom[-2000:]
    label = re.search(r'id="label">([^<]*)<', dom)
    assert label is not None and label.group(1) == str(int(expected.argmax()))
    shown = json.loads(re.search(r'id="scores">([^<]*)<', dom).group(1))  # type: ignore[union-attr]
    np.testing.assert_allclose(shown["scores"], expected, atol=1e-5)


# ------------------------------------------------------------------ scikit-learn linear, mobile


@pytest.fixture(scope="module")
def mobile_project(
    tmp_path_factory: pytest.TempPathFactory, venv_dir: Path, browser_project: EdgeProject
) -> EdgeProject:
    root = tmp_path_factory.mktemp("edge-mobile")
    answers = {
        "traffic": {"arrival": "on-device"},
        "latency": {"p99_ms": 50},
        "hardware": {"target": "mobile", "device_memory_mb": 64},
        "model": {"framework": "sklearn"},
    }
    path, package = new_edge_project(root, "digits-phone", answers, "--model-format", "sklearn")
    project = installed(path, package, venv_dir)
    project.run("make", "model", "DEMO_MODEL=linear")
    project.run("make", "export")
    return project


def test_ml_operator_model_reports_int8_not_applicable(mobile_project: EdgeProject) -> None:
    report = mobile_project.report()
    assert report["model"]["framework"] == "sklearn"
    assert report["export"]["exporter"].startswith("skl2onnx")
    assert [v["name"] for v in report["variants"]] == ["fp32"]
    (skipped,) = report["not_applicable"]
    assert skipped["variant"] == "dynamic" and "int8" in skipped["reason"]
    assert report["recommendation"]["variant"] == "fp32"
    assert "not applicable" in (mobile_project.path / "dist" / "report.md").read_text()


def test_mobile_bundle_carries_a_checked_ort_model(mobile_project: EdgeProject) -> None:
    dist = mobile_project.path / "dist"
    rows = json.dumps([[0.0] * 64, [8.0] * 64])
    from_onnx = mobile_project.python(RUN_MODEL, str(dist / "model.onnx"), rows, "probabilities")
    from_ort = mobile_project.python(RUN_MODEL, str(dist / "model.ort"), rows, "probabilities")
    np.testing.assert_allclose(from_ort, from_onnx, atol=1e-6)
    manifest = json.loads((dist / "manifest.json").read_text())
    assert manifest["edge"]["files"] == {"ort_format": "model.ort"}
    report = mobile_project.report()
    notes = " ".join(report["bundle"]["notes"])
    assert "LiteRT" in notes and "Core ML" in notes
    assert report["targets"] == ["onnx", "litert", "executorch", "coreml"]
    for entry in report["runtimes"]:  # said plainly, not skipped silently
        assert entry["status"] == "not_applicable"
        assert "scikit-learn models stay ONNX-only" in entry["reason"]
    assert not (dist / "litert").exists() and not (dist / "coreml").exists()
    assert not (dist / "web").exists()
    # The pipeline's project tests on a graph of ai.onnx.ml operators (no initializers).
    mobile_project.run(
        str(mobile_project.venv.python), "-m", "pytest", "-q", "tests/test_export.py"
    )


# ------------------------------------------------------------------ the default project (slow)


@pytest.mark.slow  # torch and the converters in a venv of its own: 20-25 minutes here
@pytest.mark.timeout(3600)
def test_default_project_through_every_runtime(tmp_path_factory: pytest.TempPathFactory) -> None:
    """``mlship new edge`` as it comes (PyTorch demo, phone target). Without its ``convert``
    extra, ONNX is verified and each missing converter is named with the fallback tried;
    with it, ``make export`` gives verified ONNX, LiteRT and ExecuTorch artifacts and a
    converted Core ML model, and the project's own tests pass (changed-weights negatives)."""
    from mlship.new.plan import load_pins

    root = tmp_path_factory.mktemp("edge-default")
    mlship("new", "edge", str(root / "pocket"), "--defaults", "--no-git", cwd=root)
    path = root / "pocket"
    assert "model_format: torch" in (path / ".copier-answers.yml").read_text()
    pyproject, pins = (path / "pyproject.toml").read_text(), load_pins()
    for name in ("litert-torch", "ai-edge-litert", "executorch", "coremltools"):
        assert f'"{name}=={pins[name]}"' in pyproject
    assert f'"pydantic=={pins["pydantic-litert"]}"' in pyproject
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    project = EdgeProject(path, "pocket", Venv(venv))

    # 1. without the converters: reported, with every route tried, never silent
    project.run("make", "install", "EXTRAS=dev,torch", timeout=INSTALL_TIMEOUT_S)
    project.run("make", "model")
    done = project.run("make", "export")
    report = project.report()
    assert report["budget"]["target"] == "mobile"
    assert report["targets"] == ["onnx", "litert", "executorch", "coreml"]
    assert report["variants"][0]["parity"]["passed"] and report["failed_variants"] == []
    assert {e["status"] for e in report["runtimes"]} == {"not_produced"}
    litert = next(e for e in report["runtimes"] if e["target"] == "litert")
    assert [t["route"] for t in litert["routes_tried"]] == ["litert-torch", "onnx2tf"]
    assert "litert_torch" in litert["routes_tried"][0]["error"]
    assert "onnx2tf is not installed" in litert["routes_tried"][1]["error"]
    assert "not_produced" in done.stderr
    assert "not in the bundle" in " ".join(report["bundle"]["notes"])

    # 2. with them (make install's default extras): every runtime, every variant
    project.run("make", "install", timeout=INSTALL_TIMEOUT_S)
    project.run("make", "export", "VARIANTS=dynamic,static,fp16", timeout=1800)
    report = project.report()
    assert "torch.export exporter" in report["export"]["exporter"]  # the .pt2 demo program
    assert isinstance(report["export"]["inputs"][0]["shape"][0], str)  # dynamic batch axis
    assert [v["name"] for v in report["variants"]] == ["fp32", "dynamic", "static", "fp16"]
    assert all(v["parity"]["passed"] for v in report["variants"])
    assert report["failed_variants"] == [] and report["failed_targets"] == []
    statuses = {(e["target"], e["variant"]): e["status"] for e in report["runtimes"]}
    for runtime in ("litert", "executorch"):
        for variant in ("fp32", "dynamic", "static"):
            assert statuses[(runtime, variant)] == "verified", (runtime, variant)
        assert statuses[(runtime, "fp16")] == "not_applicable"
    assert statuses[("coreml", "fp32")] == statuses[("coreml", "dynamic")] == "unverified"
    dist = path / "dist"
    for runtime, model in (
        ("litert", "model.tflite"),
        ("executorch", "model.pte"),
        ("coreml", "model.mlpackage"),
    ):
        manifest = json.loads((dist / runtime / "manifest.json").read_text())
        assert manifest["file"] == model and (dist / runtime / model).exists()
        if runtime != "coreml":
            assert manifest["sha256"] == sha256(dist / runtime / model)
    markdown = (dist / "report.md").read_text()
    assert "Other runtimes" in markdown and "UNVERIFIED" in markdown and "estimated" in markdown
    rows = json.dumps(np.random.default_rng(2).uniform(0, 16, size=(3, 64)).tolist())
    for runtime in ("litert", "executorch"):
        done = project.run(str(project.venv.python), str(dist / runtime / "predict.py"), rows)
        assert len(json.loads(done.stdout)["predictions"]) == 3
    # the project's own suite: every runtime again, with the changed-weights negatives
    project.run("make", "test", timeout=1800)
    project.run("make", "lint")
