"""mlship: from a trained model to a deployed, observable, load-tested project.

The public API is what ``__all__`` names; the CLI is a thin layer over it. Heavy
libraries are imported lazily inside the functions that need them so that
``import mlship`` (and the CLI start-up) stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlship.version import __version__

__all__ = [
    "__version__",
    "check_project",
    "load_answers",
    "load_patterns",
    "new_project",
    "recommend_pattern",
    "run_spike",
    "update_project",
]

if TYPE_CHECKING:  # pragma: no cover
    from mlship.knowledge.patterns import load_patterns
    from mlship.lifecycle.check import check_project
    from mlship.lifecycle.update import UpdateResult
    from mlship.new.project import new_project
    from mlship.recommend.answers import load_answers
    from mlship.recommend.engine import recommend as recommend_pattern
    from mlship.spike import run_spike

# public name -> (module, name inside it)
_LAZY = {
    "load_answers": ("mlship.recommend.answers", "load_answers"),
    "load_patterns": ("mlship.knowledge.patterns", "load_patterns"),
    "recommend_pattern": ("mlship.recommend.engine", "recommend"),
    "new_project": ("mlship.new.project", "new_project"),
    "run_spike": ("mlship.spike", "run_spike"),
    "check_project": ("mlship.lifecycle.check", "check_project"),
}


def update_project(project: str | Path, **options: Any) -> UpdateResult:
    """``mlship update`` as a call: ``options`` are ``UpdateOptions`` fields (``to``,
    ``data``, ``dry_run``, ``trust``, ``patterns_dir``). The lifecycle wing merges; the new
    wing renders: this is where the two meet (the CLI calls it too)."""
    from mlship.lifecycle.update import UpdateOptions
    from mlship.lifecycle.update import update_project as merge_update
    from mlship.new.rerender import render_pristine

    return merge_update(Path(project), UpdateOptions(**options), render_pristine)


def __getattr__(name: str) -> Any:
    found = _LAZY.get(name)
    if found is None:
        raise AttributeError(f"module 'mlship' has no attribute {name!r}")
    import importlib

    module, attribute = found
    return getattr(importlib.import_module(module), attribute)
