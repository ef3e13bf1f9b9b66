"""The project a spike runs: its pattern, its package and the Python it runs with.

The pattern comes from the project's decision record (``mlship.yaml``); a project without
one is taken for a service, as before patterns had spikes of their own. A project runs
with its own virtual environment (``.venv`` when there is one), not with whatever
environment happens to be active where ``mlship`` runs.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from mlship.contracts import DecisionRecord
from mlship.errors import InputError, KnowledgeBaseError
from mlship.knowledge.patterns import Kind, Pattern, load_named_pattern
from mlship.record import find_decision_record

VENV_NAMES = (".venv", "venv")


@dataclass(frozen=True)
class Project:
    """A project folder and the facts a spike needs about it."""

    path: Path
    record: DecisionRecord | None
    pattern: Pattern | None

    @property
    def kind(self) -> Kind:
        return self.pattern.kind if self.pattern is not None else "service"

    @property
    def name(self) -> str:
        return self.pattern.name if self.pattern is not None else "service"

    @property
    def package(self) -> str:
        """The import package under ``src/`` (from the record, else the only one there)."""
        named = self.record.project.get("package") if self.record is not None else None
        if isinstance(named, str) and named:
            return named
        found = sorted(p.parent.name for p in (self.path / "src").glob("*/__init__.py"))
        if len(found) != 1:
            raise InputError(
                f"{self.path}: cannot tell the project's package "
                f"({'none' if not found else ', '.join(found)} under src/)",
                hint="set project.package in mlship.yaml",
            )
        return found[0]

    @property
    def main_command(self) -> str:
        if self.pattern is not None:
            return self.pattern.project.main_command
        return "make serve"


def load_project(path: Path) -> Project:
    """Read a project's record and its pattern; an unknown pattern is bad input."""
    record = find_decision_record(path)
    pattern = None
    if record is not None:
        try:
            pattern = load_named_pattern(record.pattern)
        except KnowledgeBaseError as error:
            raise InputError(
                f"{path / 'mlship.yaml'}: pattern: {error.message}", hint=error.hint
            ) from None
    return Project(path=path, record=record, pattern=pattern)


@dataclass(frozen=True)
class Interpreter:
    """The Python a project runs with and the environment that puts it first."""

    python: str
    venv: Path | None

    def env(self, base: dict[str, str] | None = None, **extra: str) -> dict[str, str]:
        env = dict(os.environ if base is None else base)
        if self.venv is not None:
            env["VIRTUAL_ENV"] = str(self.venv)
            env["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
            env.pop("PYTHONHOME", None)
        env["PYTHON"] = self.python
        env.update(extra)
        return env


def project_interpreter(project: Path) -> Interpreter:
    """The project's own venv first, then the active one, then ``python`` on PATH.

    ``make`` reads ``PYTHON`` from the environment, so the project's tasks run with it;
    a launcher between the shell and mlship (pyenv's shims) cannot put another first.
    """
    for name in VENV_NAMES:
        venv = project / name
        python = venv / "bin" / "python"
        if python.is_file() and os.access(python, os.X_OK):
            return Interpreter(str(python), venv)
    active = os.environ.get("VIRTUAL_ENV")
    if active and (Path(active) / "bin" / "python").is_file():
        return Interpreter(str(Path(active) / "bin" / "python"), Path(active))
    found = shutil.which("python") or shutil.which("python3") or "python"
    return Interpreter(found, None)
