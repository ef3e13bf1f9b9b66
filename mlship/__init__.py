"""mlship: from a trained model to a deployed, observable, load-tested project.

The public API is what ``__all__`` names; the CLI is a thin layer over it. Heavy
libraries are imported lazily inside the functions that need them so that
``import mlship`` (and the CLI start-up) stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "load_answers",
    "load_patterns",
    "new_project",
    "recommend",
    "run_spike",
]

if TYPE_CHECKING:  # pragma: no cover
    from mlship.answers_io import load_answers
    from mlship.knowledge import load_patterns
    from mlship.recommend import recommend
    from mlship.scaffold import new_project
    from mlship.spike import run_spike

_LAZY = {
    "load_answers": "mlship.answers_io",
    "load_patterns": "mlship.knowledge",
    "recommend": "mlship.recommend",
    "new_project": "mlship.scaffold",
    "run_spike": "mlship.spike",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mlship' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
