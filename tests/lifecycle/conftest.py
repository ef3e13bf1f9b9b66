"""Fixtures for ``mlship update`` and ``mlship check``: real projects in real git repositories.

- ``make_project(name="svc", pattern="online", **spec)``: ``mlship new`` with git, as a user
  runs it (once per session for the same arguments; each test gets its own copy).
- ``newer_templates``: a copy of mlship's templates that the installed mlship renders from
  instead (a stand-in for the next release: tests edit it, then update to it).
- ``git(project, *args)``, ``commit_all(project, message)``: the team's side.
- ``invoke(*args)``: the CLI in-process (sees monkeypatches), as a ``Result``.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

import mlship.new.render
from mlship.cli import app
from mlship.new.project import new_project
from mlship.new.spec import ProjectSpec
from mlship.resources import templates_dir

TEAM = ["-c", "user.name=Team", "-c", "user.email=team@example.invalid"]


def git(project: Path, *args: str, check: bool = True) -> str:
    done = subprocess.run(["git", *TEAM, *args], cwd=project, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)}: {done.stderr}")
    return done.stdout.strip()


def commit_all(project: Path, message: str) -> str:
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", message)
    return git(project, "rev-parse", "HEAD")


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file outside .git with its content."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"NO_COLOR": "1", "COLUMNS": "200"})


@pytest.fixture(scope="session")
def _made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Projects already made in this session, by their arguments (copied, never reused)."""
    return {}


@pytest.fixture
def make_project(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, _made: dict[str, Path]
) -> Callable[..., Path]:
    def make(name: str = "svc", pattern: str = "online", **spec: Any) -> Path:
        key = repr((name, pattern, sorted(spec.items())))
        if key not in _made:
            made = tmp_path_factory.mktemp("made") / name
            new_project(ProjectSpec.model_validate({"pattern": pattern, **spec}), made)
            _made[key] = made
        dest = tmp_path / name
        shutil.copytree(_made[key], dest, symlinks=True)
        return dest

    return make


@pytest.fixture
def newer_templates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    copy = tmp_path / "next-release-templates"
    shutil.copytree(templates_dir(), copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(mlship.new.render, "templates_dir", lambda: copy)
    return copy


def edit(path: Path, change: Callable[[str], str]) -> None:
    text = path.read_text()
    changed = change(text)
    assert changed != text, f"the edit changed nothing in {path}"
    path.write_text(changed)


@pytest.fixture(scope="session")
def fresh_projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One fresh project (with its first commit) of every pattern, plus a GPU online one."""
    root = tmp_path_factory.mktemp("fresh")
    made = {}
    for pattern in ("online", "batch", "streaming", "edge", "chained"):
        made[pattern] = root / pattern
        new_project(ProjectSpec(pattern=pattern), made[pattern])
    made["online-gpu"] = root / "online-gpu"
    new_project(ProjectSpec(pattern="online", gpu=True), made["online-gpu"])
    return made
