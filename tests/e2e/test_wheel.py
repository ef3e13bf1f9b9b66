"""The wheel carries the knowledge base and the templates: install it alone and use it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with only the built wheel (and its dependencies) installed."""
    work = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(work / "dist"),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = (work / "dist").glob("mlship-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)],
        check=True,
        capture_output=True,
    )
    return venv


def _tree(root: Path) -> list[str]:
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )


def test_a_checkout_finds_patterns_and_templates_at_the_top() -> None:
    """The editable install this test runs in reads the top-level folders, not copies."""
    from mlship.resources import patterns_dir, templates_dir

    assert patterns_dir() == ROOT / "patterns"
    assert templates_dir() == ROOT / "templates"


def test_wheel_contains_patterns_and_templates(wheel_venv: Path) -> None:
    code = (
        "from mlship.resources import patterns_dir, templates_dir;"
        "import json;"
        "print(json.dumps([str(patterns_dir()), str(templates_dir())]))"
    )
    out = subprocess.run(
        [str(wheel_venv / "bin" / "python"), "-c", code],
        check=True,
        capture_output=True,
        text=True,
        cwd=wheel_venv,
    ).stdout
    patterns, templates = (Path(p) for p in json.loads(out))
    assert patterns.parent.name == templates.parent.name == "mlship"  # inside the package
    assert _tree(patterns) == _tree(ROOT / "patterns")
    assert _tree(templates) == _tree(ROOT / "templates")
    site = subprocess.run(
        [str(wheel_venv / "bin" / "python"), "-c", "import mlship; print(mlship.__file__)"],
        check=True,
        capture_output=True,
        text=True,
        cwd=wheel_venv,
    ).stdout
    assert str(ROOT) not in site, "the test must run the installed wheel, not the checkout"


def test_installed_wheel_recommends_from_an_answers_file(wheel_venv: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            str(wheel_venv / "bin" / "mlship"),
            "recommend",
            "--answers",
            str(ROOT / "examples" / "checkout-fraud.yaml"),
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    recommendation = json.loads(result.stdout)
    assert recommendation["pattern"] == "online"
    assert len(recommendation["ranking"]) == 5


def test_installed_wheel_renders_a_project(wheel_venv: Path, tmp_path: Path) -> None:
    dest = tmp_path / "demo-service"
    result = subprocess.run(
        [str(wheel_venv / "bin" / "mlship"), "new", "online", str(dest), "--defaults", "--no-git"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert (dest / "mlship.yaml").is_file()
    assert (dest / "src" / "demo_service" / "inference").is_dir()
    assert (dest / "Makefile").is_file()
