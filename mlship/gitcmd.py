"""Run git for mlship: no prompts, output captured, an author for mlship's own commits.

``mlship new`` makes a project's first commit and ``mlship update`` commits merges in it;
both go through here, so a machine without a configured git identity behaves the same
for each (mlship commits as ``mlship <mlship@localhost>`` and says so).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from mlship.errors import ToolError

FALLBACK_AUTHOR = ("mlship", "mlship@localhost")


def git_available() -> bool:
    return shutil.which("git") is not None


def run_git(
    cwd: Path, *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``git ARGS`` in ``cwd``; never prompts; the caller reads the return code."""
    full = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", **(env or {})}
    try:
        return subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            env=full,
            input=stdin,
            check=False,
        )
    except FileNotFoundError:
        raise ToolError("git is not installed", hint="install git and run again") from None


def _identity(cwd: Path) -> tuple[str, str] | None:
    """The author to use where git has none configured (None: git has one)."""
    name = run_git(cwd, "config", "user.name").stdout.strip()
    email = run_git(cwd, "config", "user.email").stdout.strip()
    if name and email:
        return None
    return name or FALLBACK_AUTHOR[0], email or FALLBACK_AUTHOR[1]


def author_flags(cwd: Path) -> list[str]:
    """``-c`` flags that give a commit an author when git has none configured."""
    found = _identity(cwd)
    return [] if found is None else ["-c", f"user.name={found[0]}", "-c", f"user.email={found[1]}"]


def identity_env(cwd: Path) -> dict[str, str]:
    """The same as environment variables (for plumbing such as ``git commit-tree``)."""
    found = _identity(cwd)
    if found is None:
        return {}
    name, email = found
    return {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
    }
