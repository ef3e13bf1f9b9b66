"""Register every command: each module in ``mlship.cli`` that is not infrastructure
declares its command(s) on the app at import time."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

INFRASTRUCTURE = {"app", "commands", "errors", "output"}

for _module in pkgutil.iter_modules([str(Path(__file__).parent)]):
    if _module.name not in INFRASTRUCTURE and not _module.name.startswith("_"):
        importlib.import_module(f"mlship.cli.{_module.name}")
