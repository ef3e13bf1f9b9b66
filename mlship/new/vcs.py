"""Start a new project's git history: ``git init`` and a first commit of what was generated.

The first commit is the pristine render, also kept as the ``mlship/template`` branch:
``mlship update`` merges newer renders from there and ``mlship check`` compares with it.
Git trouble never undoes the project; it is reported as a note.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from mlship.gitcmd import author_flags, git_available, run_git
from mlship.new.spec import GitOutcome
from mlship.provenance import TEMPLATE_BRANCH


def _git(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_git(path, *args)


def enclosing_repository(path: Path) -> Path | None:
    """The work tree that already contains ``path``, if any."""
    found = _git(path, "rev-parse", "--show-toplevel")
    return Path(found.stdout.strip()) if found.returncode == 0 else None


def init_and_commit(path: Path, message: str) -> GitOutcome:
    """``git init`` + add + first commit in ``path``; a note instead where that cannot be."""
    if not git_available():
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
    flags = author_flags(path)
    commit = _git(path, *flags, "commit", "-q", "-m", message)
    if commit.returncode != 0:
        detail = (commit.stderr or commit.stdout).strip()
        return GitOutcome(initialized=True, note=f"git commit failed: {detail}")
    sha = _git(path, "rev-parse", "HEAD").stdout.strip()
    note = "no git author configured: committed as mlship <mlship@localhost>" if flags else None
    # The first commit is the pristine render: `mlship update` merges newer renders from here.
    branched = _git(path, "branch", TEMPLATE_BRANCH, sha)
    if branched.returncode != 0:
        note = f"could not create the {TEMPLATE_BRANCH} branch: {branched.stderr.strip()}"
    return GitOutcome(initialized=True, commit=sha, note=note)
