"""Projects for ``mlship check`` tests: each pattern rendered once, copied per test to break."""

from __future__ import annotations

import shutil
from pathlib import Path

from mlship.lifecycle.check import check_project
from mlship.lifecycle.check.findings import CheckResult, Finding

PATTERNS = ("online", "batch", "streaming", "edge", "chained")


def copy_project(fresh: dict[str, Path], name: str, into: Path) -> Path:
    """A private copy (git history included) of a fresh project, safe to break."""
    dest = into / name
    shutil.copytree(fresh[name], dest, symlinks=True)
    return dest


def run(project: Path, **options: object) -> CheckResult:
    return check_project(project, **options)  # type: ignore[arg-type]


def found(result: CheckResult, rule: str) -> list[Finding]:
    return [f for f in result.findings if f.rule == rule]


def errors(result: CheckResult) -> list[Finding]:
    return [f for f in result.findings if f.severity == "error" and not f.waived]


def line_of(path: Path, needle: str) -> int:
    """The first line of ``path`` that contains ``needle`` (1-based)."""
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")
