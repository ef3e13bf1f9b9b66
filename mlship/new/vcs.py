"""Start a new project's git history: ``git init`` and a first commit of what was generated.

The first commit is the pristine render: later template updates and ``mlship check`` can
compare against it. Git trouble never undoes the project; it is reported as a note.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from mlship.new.spec import GitOutcome

FALLBACK_AUTHOR = ("mlship", "mlship@localhost")


def _git(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    return subprocess.run(
        ["git", *args], cwd=path, capture_output=True, text=True, env=env, check=False
    )


def enclosing_repository(path: Path) -> Path | None:
    """The work tree that already contains ``path``, if any."""
    found = _git(path, "rev-parse", "--show-toplevel")
    return Path(found.stdout.strip()) if found.returncode == 0 else None


def _author_flags(path: Path) -> list[str]:
    """``-c`` flags that give this one commit an author when git has none configured."""
    name = _git(path, "config", "user.name").stdout.strip()
    email = _git(path, "config", "user.email").stdout.strip()
    if name and email:
        return []
    return ["-c", f"user.name={name or FALLBACK_AUTHOR[0]}",
            "-c", f"user.email={email or FALLBACK_AUTHOR[1]}"]  # fmt: skip


def init_and_commit(path: Path, message: str) -> GitOutcome:
    """``git init`` + add + first commit in ``path``; a note instead where that cannot be."""
    if shutil.which("git") is None:
        return GitOutcome(note="git is not installed: no repository was created")
    outer = enclosing_repository(path)
    if outer is not None:
        return GitOutcome(note=f"inside the git repository {outer}: left it alone")
    init = _git(path, "init", "-q", "-b", "main")
    if init.returncode != 0:
        return GitOutcome(note=f"git init failed: {init.stderr.strip()}")
    added = _git(path, "add", "-A")
    if added.returncode != 0:
        return GitOutcome(initialized=True, note=f"git add failed: {added.stderr.strip()}")
    flags = _author_flags(path)
    commit = _git(path, *flags, "commit", "-q", "-m", message)
    if commit.returncode != 0:
        detail = (commit.stderr or commit.stdout).strip()
        return GitOutcome(initialized=True, note=f"git commit failed: {detail}")
    sha = _git(path, "rev-parse", "HEAD").stdout.strip()
    note = "no git author configured: committed as mlship <mlship@localhost>" if flags else None
    return GitOutcome(initialized=True, commit=sha, note=note)
