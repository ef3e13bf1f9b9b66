"""mlship's command line: thin translation from options to one core call per command.

Command modules register themselves on :data:`mlship.cli.app.app`; importing them
here must stay cheap (no copier, locust or numpy at import time).
"""

from __future__ import annotations

import sys

from mlship.cli import commands as _commands  # noqa: F401  (registers the commands)
from mlship.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        raise SystemExit(130) from None
