"""Settings for the whole test suite."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# The README runs the suite as ``~/.venvs/mlship/bin/pytest`` without activating the venv;
# the linters the tests call by name (hadolint, kubernetes-validate, check-jsonschema, ruff,
# mlship) are installed in the venv's bin folder, so that folder goes first on PATH, as
# activating the venv would put it.
_BIN = str(Path(sys.executable).parent)
if os.environ.get("PATH", "").split(os.pathsep)[0] != _BIN:
    os.environ["PATH"] = os.pathsep.join([_BIN, os.environ.get("PATH", "")])
