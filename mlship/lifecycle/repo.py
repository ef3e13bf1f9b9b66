"""The project's git repository, as ``update`` and ``check`` use it.

Every call that can fail for a reason the user can fix raises ``InputError`` with the fix;
anything else git refuses is a ``ToolError`` carrying git's own words.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from mlship.errors import InputError, ToolError
from mlship.gitcmd import author_flags, git_available, identity_env, run_git


class Repo:
    """A git work tree whose top folder is the project."""

    def __init__(self, root: Path, env: dict[str, str] | None = None) -> None:
        self.root = root
        self.env = dict(env or {})

    def with_env(self, **env: str) -> Repo:
        return Repo(self.root, {**self.env, **env})

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return run_git(self.root, *args, env=self.env, stdin=stdin)

    def out(self, *args: str, stdin: str | None = None) -> str:
        """git's stdout; a failure is a tool failure naming the command."""
        done = self.run(*args, stdin=stdin)
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip()
            raise ToolError(f"git {' '.join(args)} failed: {detail}")
        return done.stdout.strip()

    def ok(self, *args: str) -> bool:
        return self.run(*args).returncode == 0

    def commit_of(self, ref: str) -> str | None:
        found = self.run("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        return found.stdout.strip() if found.returncode == 0 else None

    def show(self, commit: str, path: str) -> str | None:
        """The text of ``path`` at ``commit``; None where it has no such file."""
        found = self.run("show", f"{commit}:{path}")
        return found.stdout if found.returncode == 0 else None

    def git_path(self, name: str) -> Path:
        return Path(self.out("rev-parse", "--path-format=absolute", "--git-path", name))

    def author_flags(self) -> list[str]:
        return author_flags(self.root)

    def identity_env(self) -> dict[str, str]:
        return identity_env(self.root)


def open_repo(project: Path) -> Repo:
    """The repository whose top folder is ``project``; bad input otherwise."""
    if not git_available():
        raise ToolError("git is not installed", hint="install git and run again")
    top = run_git(project, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise InputError(
            f"{project} is not a git repository",
            hint="mlship merges template changes with git: commit the project first "
            "(git init && git add -A && git commit -m 'mlship project')",
        )
    root = Path(top.stdout.strip())
    if os.path.realpath(root) != os.path.realpath(project):
        raise InputError(
            f"{project} is a folder inside the git repository {root}",
            hint="mlship works on a project at the top of its own repository",
        )
    return Repo(project)


def require_clean(repo: Repo) -> None:
    """No merge in progress, at least one commit, nothing uncommitted or untracked."""
    if repo.commit_of("HEAD") is None:
        raise InputError(
            f"{repo.root} has no commit yet",
            hint="commit the project first (git add -A && git commit)",
        )
    if repo.git_path("MERGE_HEAD").exists():
        raise InputError(
            f"{repo.root}: a merge is in progress",
            hint="finish it (resolve, git add, git commit) or abort it (git merge --abort)",
        )
    status = repo.run("status", "--porcelain=v1", "--untracked-files=normal").stdout
    if status.strip():
        changed = [line[3:] for line in status.splitlines() if line.strip()]
        raise InputError(
            f"{repo.root} has uncommitted changes",
            problems=changed[:10]
            + ([f"... and {len(changed) - 10} more"] if len(changed) > 10 else []),
            hint="commit them or stash them (git stash -u), then run mlship again",
        )
