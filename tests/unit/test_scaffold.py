"""``new_project``: what it writes, and that it never leaves a half-written or clobbered folder."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

import mlship.new.plan
import mlship.new.project
import mlship.new.render
from mlship.contracts import Answers, Budget, DecisionRecord
from mlship.errors import InputError, ToolError
from mlship.knowledge.patterns import load_patterns
from mlship.new.copier_data import CopierData
from mlship.new.project import new_project
from mlship.new.spec import ProjectSpec
from tests.model_files import FEATURES, skops_file


def _spec(**changes: object) -> ProjectSpec:
    return ProjectSpec.model_validate({"pattern": "online", "git": False, **changes})


def _snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under root with its content (None for folders)."""
    return {
        p.relative_to(root).as_posix(): (None if p.is_dir() else p.read_bytes())
        for p in sorted(root.rglob("*"))
    }


@pytest.fixture
def no_git_identity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A git with no user configuration at all (no global or system config)."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for var in (
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
        "EMAIL",
    ):
        monkeypatch.delenv(var, raising=False)


def test_a_new_project_has_its_files_answers_and_decision_record(tmp_path: Path) -> None:
    dest = tmp_path / "Fraud Scorer"
    result = new_project(_spec(p99_ms=40, min_rps=200), dest)
    assert (result.project_name, result.package) == ("fraud-scorer", "fraud_scorer")
    assert result.files == sorted(
        p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()
    )
    assert ".copier-answers.yml" in result.files and "mlship.yaml" in result.files
    assert any(f.startswith("src/fraud_scorer/") for f in result.files)

    answers = yaml.safe_load((dest / ".copier-answers.yml").read_text())
    assert answers["_src_path"] == "mlship:templates/online"
    assert answers["_commit"] == result_version()
    assert (answers["project_name"], answers["package"], answers["p99_ms"]) == (
        "fraud-scorer",
        "fraud_scorer",
        40.0,
    )
    assert answers["demo_model"] is True and answers["model_file"] == ""

    record = DecisionRecord.model_validate(yaml.safe_load((dest / "mlship.yaml").read_text()))
    assert record.pattern == "online"
    assert record.budget == Budget(p99_ms=40.0, max_error_rate=0.001, min_rps=200.0)
    assert record.template_version == result_version()
    assert record.project["package"] == "fraud_scorer"
    assert record.project["gpu"] is False

    assert result.next == [
        f"cd {shlex.quote(str(dest))}",
        "make install",
        "make model",
        "make test",
        "make serve",
    ]
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "Fraud Scorer"]
    assert leftovers == [], "the staging folder must be gone"
    print(f"render took {result.render_seconds:.3f} s for {len(result.files)} files")


def result_version() -> str:
    from mlship.version import __version__

    return __version__


def test_the_project_starts_its_git_history_even_without_a_git_identity(
    tmp_path: Path, no_git_identity: None
) -> None:
    dest = tmp_path / "svc"
    result = new_project(_spec(git=True), dest)
    assert result.git.initialized and result.git.commit
    assert "mlship@localhost" in (result.git.note or "")

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=dest, capture_output=True, text=True, check=True
        ).stdout

    assert git("rev-parse", "HEAD").strip() == result.git.commit
    assert git("status", "--porcelain") == ""
    tracked = set(git("ls-files").split("\n")) - {""}
    assert tracked == set(result.files)
    assert git("log", "-1", "--format=%an <%ae>").strip() == "mlship <mlship@localhost>"
    local = subprocess.run(["git", "config", "--local", "user.name"], cwd=dest, capture_output=True)
    assert local.returncode == 1, "the fallback author is used for the first commit only"


def test_a_project_inside_an_existing_repository_is_not_made_a_nested_one(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path / "mono")], check=True)
    result = new_project(_spec(git=True), tmp_path / "mono" / "services" / "scorer")
    assert not result.git.initialized
    assert "inside the git repository" in (result.git.note or "")
    assert not (tmp_path / "mono" / "services" / "scorer" / ".git").exists()


def test_a_non_empty_destination_is_refused_and_left_alone(tmp_path: Path) -> None:
    dest = tmp_path / "svc"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    before = _snapshot(dest)
    with pytest.raises(InputError) as caught:
        new_project(_spec(), dest)
    assert caught.value.message == f"dest: {dest} is not empty"
    assert "--force" in (caught.value.hint or "")
    assert _snapshot(dest) == before


def test_force_replaces_generated_files_and_keeps_every_user_file(tmp_path: Path) -> None:
    dest = tmp_path / "svc"
    first = new_project(_spec(), dest)
    (dest / "notes.txt").write_text("mine")
    (dest / "src" / "svc" / "my_feature.py").write_text("VALUE = 1\n")
    (dest / "mlship.yaml").write_text("edited by hand\n")
    second = new_project(_spec(p99_ms=25), dest, force=True)
    assert (dest / "notes.txt").read_text() == "mine"
    assert (dest / "src" / "svc" / "my_feature.py").read_text() == "VALUE = 1\n"
    assert yaml.safe_load((dest / "mlship.yaml").read_text())["budget"]["p99_ms"] == 25.0
    assert set(second.overwritten) == set(first.files)


def test_force_refuses_to_replace_a_user_folder_with_a_generated_file(tmp_path: Path) -> None:
    dest = tmp_path / "svc"
    (dest / "mlship.yaml").mkdir(parents=True)
    (dest / "mlship.yaml" / "keep.txt").write_text("mine")
    before = _snapshot(dest)
    with pytest.raises(InputError) as caught:
        new_project(_spec(), dest, force=True)
    assert "is a folder where mlship generates a file" in caught.value.problems[0]
    assert _snapshot(dest) == before
    assert [p.name for p in tmp_path.iterdir()] == ["svc"]


def test_force_never_writes_through_a_symlinked_folder(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "svc"
    dest.mkdir()
    (dest / "src").symlink_to(outside, target_is_directory=True)
    with pytest.raises(InputError) as caught:
        new_project(_spec(), dest, force=True)
    assert any("symbolic link" in p for p in caught.value.problems)
    assert list(outside.iterdir()) == []


def test_a_failing_model_import_leaves_nothing_behind(tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"garbage")
    dest = tmp_path / "deep" / "er" / "svc"
    with pytest.raises(InputError):
        new_project(_spec(model=broken), dest)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.onnx"]


def test_a_failure_during_rendering_restores_the_destination_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection: the renderer writes part of the project, then fails."""
    real_render = mlship.new.render.render

    def render_then_fail(
        pattern: str, dest: Path, data: CopierData, overlay: None, **options: bool
    ) -> list[Path]:
        real_render(pattern, dest, data, overlay, **options)
        raise OSError("disk full")

    monkeypatch.setattr(mlship.new.project, "render", render_then_fail)
    absent = tmp_path / "new" / "svc"
    with pytest.raises(ToolError, match="disk full"):
        new_project(_spec(), absent)
    assert list(tmp_path.iterdir()) == []

    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "notes.txt").write_text("mine")
    before = _snapshot(tmp_path)
    with pytest.raises(ToolError, match="disk full"):
        new_project(_spec(), existing, force=True)
    assert _snapshot(tmp_path) == before


def test_a_user_model_is_installed_with_its_manifest_instead_of_the_demo(tmp_path: Path) -> None:
    source = skops_file(tmp_path / "churn.skops")
    dest = tmp_path / "svc"
    result = new_project(_spec(model=source), dest)
    assert result.model_format == "onnx"  # converted with skl2onnx, the source kept beside it
    assert result.model is not None and result.model["input"]["features"] == FEATURES
    assert (dest / "models" / "churn.skops").read_bytes() == source.read_bytes()
    assert (dest / "models" / "churn.onnx").is_file()
    assert (dest / "models" / "manifest.json").exists()
    answers = yaml.safe_load((dest / ".copier-answers.yml").read_text())
    assert (answers["demo_model"], answers["model_file"], answers["model_format"]) == (
        False,
        "churn.onnx",
        "onnx",
    )
    assert "make model" not in result.next


def test_gpu_passes_the_cuda_entry_for_the_pinned_torch(tmp_path: Path) -> None:
    from mlship.new.plan import plan_project

    result = new_project(_spec(gpu=True, python_version="3.12"), tmp_path / "svc")
    assert result.cuda["base_image"] == "python:3.12-slim"
    assert result.cuda["torch_index_url"].startswith("https://download.pytorch.org/whl/cu")
    record = yaml.safe_load((tmp_path / "svc" / "mlship.yaml").read_text())
    assert record["project"]["cuda_version"] == result.cuda["cuda_version"]
    sklearn_on_gpu = plan_project(_spec(gpu=True, model_format="sklearn"), tmp_path / "x")
    assert any("scikit-learn runs on the CPU" in w for w in sklearn_on_gpu.warnings)
    with pytest.raises(InputError, match="cuda: a CUDA version only applies with --gpu"):
        new_project(_spec(cuda_version="12.6"), tmp_path / "other")


def test_a_decision_record_gives_defaults_that_flags_override(tmp_path: Path) -> None:
    record = DecisionRecord(
        mlship_version="0.1.0",
        pattern="online",
        answers=Answers.model_validate(
            {
                "traffic": {"arrival": "requests", "peak_rps": 300.0},
                "latency": {"p99_ms": 50.0},
                "hardware": {"accelerator": "gpu"},
            }
        ),
        reasons=["requests arrive one at a time"],
        budget=Budget(p99_ms=50.0, max_error_rate=0.01),
    )
    result = new_project(_spec(decision=record, gpu=False), tmp_path / "a")
    written = DecisionRecord.model_validate(
        yaml.safe_load((tmp_path / "a" / "mlship.yaml").read_text())
    )
    assert written.budget == Budget(p99_ms=50.0, max_error_rate=0.01, min_rps=300.0)
    assert written.answers == record.answers
    assert written.reasons == ["requests arrive one at a time"]
    assert result.gpu is False

    result = new_project(_spec(decision=record, p99_ms=20), tmp_path / "b")
    assert result.gpu is True, "the record's accelerator applies when --gpu is not given"
    written = DecisionRecord.model_validate(
        yaml.safe_load((tmp_path / "b" / "mlship.yaml").read_text())
    )
    assert written.budget.p99_ms == 20.0


def test_names_that_escape_the_destination_are_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    with pytest.raises(InputError) as caught:
        new_project(_spec(name="../x"), tmp_path / "svc")
    assert caught.value.message.startswith("name: '../x' is a path")
    assert list(tmp_path.iterdir()) == []


def test_a_pattern_without_a_template_lists_the_available_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Patterns gain templates over time: pretend only online and batch exist."""
    monkeypatch.setattr(
        mlship.new.plan, "available_templates", lambda overlay=None: ["batch", "online"]
    )
    with pytest.raises(InputError) as caught:
        new_project(_spec(pattern="edge"), tmp_path / "svc")
    assert caught.value.message == "pattern: this mlship has no template for 'edge' yet"
    assert caught.value.hint == "available templates: batch, online"
    assert list(tmp_path.iterdir()) == []


def test_a_destination_that_is_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "svc"
    target.write_text("x")
    with pytest.raises(InputError, match="exists and is not a folder"):
        new_project(_spec(), target, force=True)
    assert target.read_text() == "x"


def test_the_plan_fills_every_key_the_questionnaire_declares_and_writes_nothing(
    tmp_path: Path,
) -> None:
    from mlship.new.copier_data import CopierData
    from mlship.new.plan import plan_project
    from mlship.resources import templates_dir

    questionnaire = yaml.safe_load(templates_dir().joinpath("copier.yml").read_text())
    declared = {key for key in questionnaire if not key.startswith("_")}
    assert set(CopierData.model_fields) == declared
    plan = plan_project(_spec(gpu=True, p99_ms=30), tmp_path / "svc")
    assert plan.data.cuda == plan.cuda and plan.cuda["torch_version"] == plan.data.pins["torch"]
    assert list(tmp_path.iterdir()) == []


def test_the_recommended_model_format_is_the_default(tmp_path: Path) -> None:
    from mlship.new.plan import plan_project

    record = DecisionRecord(
        mlship_version="0.1.0",
        pattern="online",
        stack={"runtime": "torch", "model_format": "torch"},
    )
    assert plan_project(_spec(decision=record), tmp_path / "a").model_format == "torch"
    assert (
        plan_project(_spec(decision=record, model_format="onnx"), tmp_path / "a").model_format
        == "onnx"
    )
    assert plan_project(_spec(), tmp_path / "a").model_format == "onnx"


@pytest.mark.parametrize("pattern", mlship.new.render.available_templates())
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"gpu": True, "model_format": "torch"},
        {"model_format": "sklearn", "python_version": "3.12"},
    ],
    ids=["default", "gpu-torch", "sklearn"],
)
def test_every_template_renders_through_new_project(
    tmp_path: Path, pattern: str, options: dict[str, object]
) -> None:
    knowledge = next(p for p in load_patterns() if p.name == pattern)
    if options.get("gpu") and not knowledge.runs_on_gpu:
        with pytest.raises(InputError, match="no GPU variant"):
            new_project(_spec(pattern=pattern, **options), tmp_path / "svc")
        assert not (tmp_path / "svc").exists()
        return
    result = new_project(_spec(pattern=pattern, **options), tmp_path / "svc")
    assert not [f for f in result.files if "{{" in f or "{%" in f or f.endswith(".jinja")]
    record = yaml.safe_load((tmp_path / "svc" / "mlship.yaml").read_text())
    assert record["pattern"] == pattern
    answers = yaml.safe_load((tmp_path / "svc" / ".copier-answers.yml").read_text())
    assert answers["_src_path"] == f"mlship:templates/{pattern}"
    assert (result.gpu, bool(result.cuda)) == (bool(options.get("gpu")), bool(options.get("gpu")))
