"""Run schemathesis (every check) against a generated service's own OpenAPI document."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HOOKS = Path(__file__).with_name("schemathesis_hooks.py")


def schemathesis(url: str, workdir: Path, max_examples: int, seed: int = 1) -> str:
    """``st run --checks all`` with bounded examples; returns its output, fails on a failure.

    It runs in ``workdir`` so that nothing it writes lands in the checkout."""
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS), "NO_COLOR": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{url}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            str(max_examples),
            "--seed",
            str(seed),
            "--generation-database",
            "none",
            "--request-timeout",
            "10",
        ],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    assert "No issues found" in output, output[-6000:]
    return output
