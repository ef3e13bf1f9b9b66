"""The package under test, found under ``src/`` so the tests carry no hard-coded name."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = next(p.parent.name for p in sorted((ROOT / "src").glob("*/__init__.py")))
MODELS = ROOT / "models"


def module(name: str) -> ModuleType:
    """``module("inference.schema")`` imports ``<package>.inference.schema``."""
    return importlib.import_module(f"{PACKAGE}.{name}")


inference = module("inference")
manifest = module("inference.manifest")
drift = module("inference.drift")
settings = module("settings")
