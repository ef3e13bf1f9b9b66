"""Render a pattern's template with copier.

Templates live in ``mlship/templates``: one shared questionnaire (``copier.yml``),
the files every project shares (``shared/``) and one folder per pattern whose files
are laid over the shared ones. This module stages that overlay as one copier
template in a temporary folder and renders it; it asks nothing and knows nothing
about patterns beyond their folder names.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib.resources import as_file
from pathlib import Path
from typing import Any

from mlship.errors import InputError, ToolError
from mlship.resources import templates_dir

SHARED = "shared"
# Caches that tools leave beside the templates when someone works on them.
_NOT_TEMPLATE = shutil.ignore_patterns("__pycache__", ".ruff_cache", ".mypy_cache", ".pytest_cache")
QUESTIONNAIRE = "copier.yml"


def available_templates() -> list[str]:
    """Patterns that have a template folder."""
    root = templates_dir()
    return sorted(
        p.name
        for p in root.iterdir()
        if p.is_dir() and p.name != SHARED and not p.name.startswith((".", "__"))
    )


def stage_template(pattern: str, into: Path) -> Path:
    """Copy the questionnaire, the shared files and the pattern's files into one template."""
    if pattern not in available_templates():
        raise InputError(
            f"no template for pattern {pattern!r}",
            hint=f"available: {', '.join(available_templates()) or 'none'}",
        )
    with as_file(templates_dir()) as root:
        root = Path(root)
        project = into / "project"
        shutil.copytree(root / SHARED, project, ignore=_NOT_TEMPLATE)
        shutil.copytree(
            root / pattern,
            project,
            dirs_exist_ok=True,
            ignore=_NOT_TEMPLATE,
        )
        shutil.copy2(root / QUESTIONNAIRE, into / QUESTIONNAIRE)
    return into


@contextmanager
def _no_git_index_sync() -> Iterator[None]:
    """Skip copier's per-file ``git`` call that syncs executable bits into a git index.

    mlship always renders into a fresh staging folder that no git repository tracks, so
    the sync has nothing to do, yet it costs one subprocess per file (about half of the
    render time). Without the private hook (another copier version) nothing changes.
    """
    import copier._main as copier_main

    if not hasattr(copier_main, "is_git_available"):
        yield
        return
    original = copier_main.is_git_available
    copier_main.is_git_available = lambda: False
    try:
        yield
    finally:
        copier_main.is_git_available = original


def render(pattern: str, dest: Path, data: Mapping[str, Any]) -> list[Path]:
    """Render ``pattern`` into ``dest`` (which must exist) with ``data``; return the files.

    Copier runs without prompts and without tasks; every value it needs comes in ``data``,
    computed once in Python by the caller.
    """
    import copier

    with tempfile.TemporaryDirectory(prefix="mlship-template-") as tmp, _no_git_index_sync():
        stage_template(pattern, Path(tmp))
        try:
            copier.run_copy(
                tmp,
                dest,
                data=dict(data),
                defaults=True,
                overwrite=True,
                quiet=True,
                unsafe=False,
                skip_tasks=True,
                cleanup_on_error=False,
            )
        except Exception as error:  # copier raises many unrelated types
            raise ToolError(f"rendering the {pattern} template failed: {error}") from error
    return sorted(p for p in dest.rglob("*") if p.is_file())
