"""The package under test, found under ``src/`` so the tests carry no hard-coded name."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = next(p.parent.name for p in sorted((ROOT / "src").glob("*/__init__.py")))
MODELS = ROOT / "models"


def module(name: str) -> ModuleType:
    """``module("pipeline.spec")`` imports ``<package>.pipeline.spec``."""
    return importlib.import_module(f"{PACKAGE}.{name}")


inference = module("inference")
manifest = module("inference.manifest")
drift = module("inference.drift")
settings = module("settings")
spec = module("pipeline.spec")
breaker = module("pipeline.breaker")
executor = module("pipeline.executor")
adapters = module("pipeline.adapters")
build = module("pipeline.build")
metrics = module("pipeline.metrics")
app = module("pipeline.app")
pipeline_settings = module("pipeline.settings")
pipeline_manifest = module("pipeline.manifest")
tracing = module("pipeline.tracing")
stages = module("pipeline.stages")
