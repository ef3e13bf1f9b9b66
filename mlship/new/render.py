"""Render a pattern's template with copier.

Templates live in ``templates/``: one shared questionnaire (``copier.yml``), the files
every project shares (``shared/``), Jinja macros the templates import (``macros/``) and
one folder per pattern whose files are laid over the shared ones. An organisation's
template source (a folder or a git repository at a ref, same layout, see
``mlship.new.sources``) is laid over mlship's: its files are added or replace mlship's,
rendered with the same data. This module stages those layers as one
copier template in a temporary folder and renders it; it asks nothing and knows nothing
about patterns beyond their folder names.

Jinja runs sandboxed, so template files cannot run code. An overlay's own ``copier.yml``
may add copier tasks or Jinja extensions, which do run code: only with ``trust``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from mlship.errors import InputError, ToolError
from mlship.new.copier_data import CopierData
from mlship.new.sources import resolve_source
from mlship.resources import templates_dir
from mlship.yaml_io import read_yaml_file

ENV_TEMPLATES = "MLSHIP_TEMPLATES"

SHARED = "shared"
# Jinja macros the templates import (``{% from "macros/..." import ... %}``): staged beside
# the project folder, where copier's loader finds them and never renders them as files.
MACROS = "macros"
# Caches that tools leave beside the templates when someone works on them.
_NOT_TEMPLATE = shutil.ignore_patterns("__pycache__", ".ruff_cache", ".mypy_cache", ".pytest_cache")
QUESTIONNAIRE = "copier.yml"
# copier settings that run code while rendering: an overlay may add them, with --trust only
CODE_SETTINGS = frozenset({"_tasks", "_jinja_extensions"})


Overlay = str | Path | None


def chosen_overlay(overlay: Overlay, from_env: bool = True) -> str | None:
    """The organisation's source: ``overlay``, else ``$MLSHIP_TEMPLATES`` (if ``from_env``)."""
    if overlay is not None and str(overlay):
        return str(overlay)
    return (os.environ.get(ENV_TEMPLATES) or None) if from_env else None


def template_layers(overlay: Overlay = None, from_env: bool = True) -> list[Path]:
    """mlship's templates, then the organisation's (``overlay`` or ``$MLSHIP_TEMPLATES``)."""
    layers = [templates_dir()]
    chosen = chosen_overlay(overlay, from_env)
    if chosen is not None:
        layers.append(resolve_source(chosen).path)
    return layers


def _overlay_settings(layers: list[Path], trust: bool) -> dict[str, Any]:
    """Code-running copier settings an overlay's ``copier.yml`` adds (only with ``trust``)."""
    if len(layers) < 2 or not (layers[-1] / QUESTIONNAIRE).is_file():
        return {}
    path = layers[-1] / QUESTIONNAIRE
    raw = read_yaml_file(path, InputError, "template settings") or {}
    if not isinstance(raw, dict):
        raise InputError(f"{path}: must be a mapping of copier settings")
    unknown = sorted(str(k) for k in raw if k not in CODE_SETTINGS)
    if unknown:
        raise InputError(
            f"{path}: an overlay's copier.yml may only add {', '.join(sorted(CODE_SETTINGS))}; "
            f"not {', '.join(unknown)}",
            hint="mlship computes every value the templates use; see docs/update.md",
        )
    if raw and not trust:
        raise InputError(
            f"{path}: this template source runs code at render time "
            f"({', '.join(sorted(str(k) for k in raw))})",
            hint="if you trust this template source, pass --trust",
        )
    return dict(raw)


def _pattern_folders(root: Path) -> set[str]:
    return {
        p.name
        for p in root.iterdir()
        if p.is_dir() and p.name not in (SHARED, MACROS) and not p.name.startswith((".", "__"))
    }


def available_templates(overlay: Overlay = None, from_env: bool = True) -> list[str]:
    """Patterns that have a template folder in any layer."""
    names: set[str] = set()
    for layer in template_layers(overlay, from_env):
        names |= _pattern_folders(layer)
    return sorted(names)


def stage_template(
    pattern: str, into: Path, overlay: Overlay = None, trust: bool = False, from_env: bool = True
) -> Path:
    """Copy the questionnaire, the shared files and the pattern's files of every layer."""
    layers = template_layers(overlay, from_env)
    available = available_templates(overlay, from_env)
    if pattern not in available:
        raise InputError(
            f"no template for pattern {pattern!r}",
            hint=f"available: {', '.join(available) or 'none'}",
        )
    code = _overlay_settings(layers, trust)
    project = into / "project"
    project.mkdir(parents=True)
    for layer in layers:
        for part in (SHARED, pattern):
            if (layer / part).is_dir():
                shutil.copytree(layer / part, project, dirs_exist_ok=True, ignore=_NOT_TEMPLATE)
        if (layer / MACROS).is_dir():
            shutil.copytree(layer / MACROS, into / MACROS, dirs_exist_ok=True, ignore=_NOT_TEMPLATE)
    questionnaire = (templates_dir() / QUESTIONNAIRE).read_text(encoding="utf-8")
    if code:
        questionnaire += "\n" + yaml.safe_dump(code, sort_keys=False)
    (into / QUESTIONNAIRE).write_text(questionnaire, encoding="utf-8")
    return into


@contextmanager
def _no_git_index_sync() -> Iterator[None]:
    """Skip copier's per-file ``git`` call that syncs executable bits into a git index.

    mlship always renders into a fresh staging folder that no git repository tracks, so
    the sync has nothing to do, yet it costs one subprocess per file (about half of the
    render time). copier (9.19) has no public switch for it, so this swaps its private
    ``is_git_available`` for the duration of one render; where a later copier lacks that
    name, nothing is patched and the render is only slower.
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


def render(
    pattern: str,
    dest: Path,
    data: CopierData,
    overlay: Overlay = None,
    trust: bool = False,
    from_env: bool = True,
) -> list[Path]:
    """Render ``pattern`` into ``dest`` (which must exist) with ``data``; return the files.

    Copier runs without prompts, and without tasks unless a trusted overlay adds them;
    every value it needs comes in ``data``, computed once in Python by the caller.
    """
    import copier

    with tempfile.TemporaryDirectory(prefix="mlship-template-") as tmp, _no_git_index_sync():
        stage_template(pattern, Path(tmp), overlay, trust, from_env)
        try:
            copier.run_copy(
                tmp,
                dest,
                data=data.model_dump(),
                defaults=True,
                overwrite=True,
                quiet=True,
                unsafe=trust,
                skip_tasks=not trust,
                cleanup_on_error=False,
            )
        except Exception as error:  # copier raises many unrelated types
            raise ToolError(f"rendering the {pattern} template failed: {error}") from error
    return sorted(p for p in dest.rglob("*") if p.is_file())
