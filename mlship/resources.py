"""Where mlship's shipped data lives: found through importlib.resources, so it works
the same from a checkout, an editable install and an installed wheel."""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable


def package_data(*parts: str) -> Traversable:
    """A file or folder shipped inside the ``mlship`` package."""
    node = files("mlship")
    for part in parts:
        node = node / part
    return node


def patterns_dir() -> Traversable:
    """The built-in knowledge base: one YAML file per pattern."""
    return package_data("patterns")


def templates_dir() -> Traversable:
    """The built-in copier templates."""
    return package_data("templates")


def data_file(name: str) -> Traversable:
    """A data table (compatibility matrices and the like) shipped with mlship."""
    return package_data("data", name)
