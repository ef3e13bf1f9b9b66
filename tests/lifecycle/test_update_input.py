"""``mlship update`` refuses what it cannot do with exit 2 and the fix, and changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.lifecycle.conftest import commit_all, git, invoke, snapshot


def _refused(args: list[str], *expected: str) -> str:
    done = invoke("update", *args)
    assert done.exit_code == 2, done.output
    assert "Traceback" not in done.output
    for text in expected:
        assert text in done.output, done.output
    return done.output


def test_a_folder_that_is_not_a_git_repository(make_project: Callable[..., Path]) -> None:
    project = make_project(git=False)
    _refused([str(project)], "is not a git repository", "git init")


def test_uncommitted_changes_are_named(make_project: Callable[..., Path]) -> None:
    project = make_project()
    (project / "Makefile").write_text("changed\n")
    (project / "notes.txt").write_text("new\n")
    before = snapshot(project)
    _refused([str(project)], "uncommitted changes", "Makefile", "notes.txt", "git stash")
    assert snapshot(project) == before


def test_a_folder_that_is_not_an_mlship_project(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    (tmp_path / "README.md").write_text("hello\n")
    commit_all(tmp_path, "first")
    _refused([str(tmp_path)], ".copier-answers.yml", "mlship new")


def test_an_answers_file_of_another_template(make_project: Callable[..., Path]) -> None:
    project = make_project()
    answers = project / ".copier-answers.yml"
    answers.write_text(answers.read_text().replace("mlship:templates/online", "gh:org/tpl"))
    commit_all(project, "other template")
    _refused([str(project)], "not an mlship project", "gh:org/tpl")


def test_an_unknown_version(make_project: Callable[..., Path]) -> None:
    project = make_project()
    _refused([str(project), "--to", "9.9.9"], "unknown version '9.9.9'", "mlship==9.9.9")


def test_a_project_from_a_newer_mlship(make_project: Callable[..., Path]) -> None:
    project = make_project()
    answers = project / ".copier-answers.yml"
    answers.write_text(answers.read_text().replace("_commit: '0.2.0'", "_commit: '7.0.0'"))
    commit_all(project, "from the future")
    _refused([str(project)], "newer than this mlship", "mlship>=7.0.0")


def test_a_merge_in_progress(make_project: Callable[..., Path]) -> None:
    project = make_project()
    git(project, "checkout", "-q", "-b", "side")
    (project / "Makefile").write_text("side\n")
    commit_all(project, "side")
    git(project, "checkout", "-q", "main")
    (project / "Makefile").write_text("main\n")
    commit_all(project, "main")
    git(project, "merge", "side", check=False)
    git(project, "add", "Makefile")  # resolved but not committed: the tree is clean-ish
    _refused([str(project)], "a merge is in progress", "git merge --abort")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("gpu", "is not KEY=VALUE"),
        ("pattern=batch", "pattern cannot be changed"),
        ("p99_ms=-5", "p99_ms"),
        ("model_format=tensorflow", "model_format"),
    ],
)
def test_bad_data(make_project: Callable[..., Path], data: str, expected: str) -> None:
    project = make_project()
    head = git(project, "rev-parse", "HEAD")
    _refused([str(project), "--data", data], expected)
    assert git(project, "rev-parse", "HEAD") == head


def test_gpu_for_a_pattern_without_a_gpu_variant(make_project: Callable[..., Path]) -> None:
    project = make_project(pattern="chained")
    _refused([str(project), "--data", "gpu=true"], "no GPU variant")


def test_git_missing_is_a_tool_failure(
    make_project: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project()
    empty = tmp_path / "no-tools"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    done = invoke("update", str(project))
    assert done.exit_code == 3, done.output
    assert "git is not installed" in done.output
