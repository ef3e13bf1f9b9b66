"""The git merges of ``mlship update``: a preview that touches nothing, and the real one.

Both report the same lists: files the merge changes, adds, deletes, and those in conflict.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlship.errors import ToolError
from mlship.lifecycle.repo import Repo


@dataclass
class Changes:
    """What merging a pristine render does to ``HEAD``."""

    changed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)


def _changes(name_status: str, conflicts: list[str]) -> Changes:
    found = Changes(conflicts=sorted(set(conflicts)))
    for line in name_status.splitlines():
        status, _, path = line.partition("\t")
        path = path.split("\t")[-1]
        if path in found.conflicts:
            continue
        {"A": found.added, "D": found.deleted}.get(status[:1], found.changed).append(path)
    for paths in (found.changed, found.added, found.deleted):
        paths.sort()
    return found


def preview(repo: Repo, template: str) -> Changes:
    """What merging ``template`` would do, computed by ``git merge-tree``; nothing moves.

    Objects it writes go wherever ``repo``'s environment says (a throw-away store).
    """
    merged = repo.run(
        "merge-tree", "--write-tree", "--name-only", "--no-messages", "HEAD", template
    )
    if merged.returncode not in (0, 1):
        raise ToolError(f"git merge-tree failed: {merged.stderr.strip()}")
    lines = merged.stdout.strip().splitlines()
    diff = repo.out("diff-tree", "-r", "--no-renames", "--name-status", "HEAD", lines[0])
    return _changes(diff, lines[1:])


def start(repo: Repo, template: str) -> list[str]:
    """``git merge --no-ff --no-commit``: the merge in progress; the conflicted paths."""
    merge = repo.run("merge", "--no-ff", "--no-commit", "--no-edit", template)
    conflicts = repo.out("diff", "--name-only", "--diff-filter=U").splitlines()
    if merge.returncode != 0 and not conflicts:
        repo.run("merge", "--abort")
        raise ToolError(f"git merge failed: {(merge.stderr or merge.stdout).strip()}")
    return conflicts


def staged(repo: Repo, conflicts: list[str]) -> Changes:
    """The merge in progress as lists (the index against ``HEAD``)."""
    diff = repo.out("diff", "--cached", "--no-renames", "--name-status", "HEAD")
    return _changes(diff, conflicts)


def finish(repo: Repo, message: str, conflicts: list[str]) -> str | None:
    """Commit a clean merge (its commit); leave a conflicted one with ``message`` prepared."""
    if conflicts:
        repo.git_path("MERGE_MSG").write_text(message + "\n", encoding="utf-8")
        return None
    repo.out(*repo.author_flags(), "commit", "--quiet", "--no-verify", "-m", message)
    return repo.out("rev-parse", "HEAD")
