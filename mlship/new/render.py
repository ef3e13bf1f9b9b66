"""Render a pattern's template with copier.

Templates live in ``templates/``: one shared questionnaire (``copier.yml``), the files
every project shares (``shared/``) and one folder per pattern whose files are laid over
the shared ones. An organisation's templates folder (same layout) is laid over mlship's:
its files are added or replace mlship's, rendered with the same data. This module stages
those layers as one copier template in a temporary folder and renders it; it asks
nothing and knows nothing about patterns beyond their folder names.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlship.errors import InputError, ToolError
from mlship.new.copier_data import CopierData
from mlship.resources import templates_dir

ENV_TEMPLATES = "MLSHIP_TEMPLATES"

SHARED = "shared"
# Caches that tools leave beside the templates when someone works on them.
_NOT_TEMPLATE = shutil.ignore_patterns("__pycache__", ".ruff_cache", ".mypy_cache", ".pytest_cache")
QUESTIONNAIRE = "copier.yml"


def template_layers(overlay: Path | None = None) -> list[Path]:
    """mlship's templates, then the organisation's (``overlay`` or ``$MLSHIP_TEMPLATES``)."""
    chosen = overlay if overlay is not None else os.environ.get(ENV_TEMPLATES) or None
    layers = [templates_dir()]
    if chosen is not None:
        folder = Path(chosen).expanduser()
        if not folder.is_dir():
            raise InputError(
                f"templates: {folder} is not a folder",
                hint="give a folder laid out like mlship's templates/ (<pattern>/..., shared/...)",
            )
        layers.append(folder)
    return layers


def _pattern_folders(root: Path) -> set[str]:
    return {
        p.name
        for p in root.iterdir()
        if p.is_dir() and p.name != SHARED and not p.name.startswith((".", "__"))
    }


def available_templates(overlay: Path | None = None) -> list[str]:
    """Patterns that have a template folder in any layer."""
    names: set[str] = set()
    for layer in template_layers(overlay):
        names |= _pattern_folders(layer)
    return sorted(names)


def stage_template(pattern: str, into: Path, overlay: Path | None = None) -> Path:
    """Copy the questionnaire, the shared files and the pattern's files of every layer."""
    if pattern not in available_templates(overlay):
        raise InputError(
            f"no template for pattern {pattern!r}",
            hint=f"available: {', '.join(available_templates(overlay)) or 'none'}",
        )
    project = into / "project"
    project.mkdir(parents=True)
    for layer in template_layers(overlay):
        for part in (SHARED, pattern):
            if (layer / part).is_dir():
                shutil.copytree(layer / part, project, dirs_exist_ok=True, ignore=_NOT_TEMPLATE)
    shutil.copy2(templates_dir() / QUESTIONNAIRE, into / QUESTIONNAIRE)
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


def render(pattern: str, dest: Path, data: CopierData, overlay: Path | None = None) -> list[Path]:
    """Render ``pattern`` into ``dest`` (which must exist) with ``data``; return the files.

    Copier runs without prompts and without tasks; every value it needs comes in ``data``,
    computed once in Python by the caller.
    """
    import copier

    with tempfile.TemporaryDirectory(prefix="mlship-template-") as tmp, _no_git_index_sync():
        stage_template(pattern, Path(tmp), overlay)
        try:
            copier.run_copy(
                tmp,
                dest,
                data=data.model_dump(),
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
