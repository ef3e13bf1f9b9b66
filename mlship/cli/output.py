"""The only module that owns rich consoles: human rendering and ``--json`` output.

Commands return data; this module renders it once, either as rich text for a person
or as JSON for a machine. rich honours ``NO_COLOR`` and ``TERM=dumb`` by itself.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from typing import Any

from rich.console import Console
from rich.markup import escape


@cache
def console() -> Console:
    """Console for results (stdout)."""
    return Console(highlight=False, soft_wrap=False)


@cache
def err_console() -> Console:
    """Console for errors, warnings and progress (stderr)."""
    return Console(stderr=True, highlight=False)


def print_json(data: Any) -> None:
    """Write machine-readable output: plain JSON on stdout, no colour, one document."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def print_error(message: str) -> None:
    """Write an error for a person on stderr."""
    err_console().print(
        f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False, soft_wrap=True
    )


def print_warning(message: str) -> None:
    err_console().print(
        f"[yellow]warning:[/] {escape(message)}", markup=True, highlight=False, soft_wrap=True
    )
