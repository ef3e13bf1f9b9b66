"""Where mlship's shipped data lives, the same from a checkout, an editable install and a wheel.

The knowledge base (``patterns/``) and the copier templates (``templates/``) sit at the top
of the repository, where a team that standardizes on mlship sees and edits them first. The
wheel carries them inside the package (``mlship/patterns``, ``mlship/templates``, see
``[tool.hatch.build.targets.wheel.force-include]``); a checkout or an editable install
finds them beside the package. The data tables (``mlship/data``) live in the package.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from mlship.errors import KnowledgeBaseError

_CHECKOUT = Path(__file__).resolve().parent.parent


def package_data(*parts: str) -> Traversable:
    """A file or folder shipped inside the ``mlship`` package."""
    node = files("mlship")
    for part in parts:
        node = node / part
    return node


@cache
def _top_level(name: str) -> Path:
    """``name`` inside an installed wheel, else at the top of the checkout."""
    inside = package_data(name)
    if inside.is_dir():
        return Path(str(inside))
    beside = _CHECKOUT / name
    if beside.is_dir():
        return beside
    raise KnowledgeBaseError(
        f"mlship's {name}/ folder is missing (looked in {inside} and {beside})",
        hint="reinstall mlship; a wheel carries it inside the package",
    )


def patterns_dir() -> Path:
    """The built-in knowledge base: one YAML file per pattern."""
    return _top_level("patterns")


def templates_dir() -> Path:
    """The built-in copier templates: ``copier.yml``, ``shared/`` and one folder a pattern."""
    return _top_level("templates")


def data_file(name: str) -> Traversable:
    """A data table (compatibility matrices and the like) shipped with mlship."""
    return package_data("data", name)
