"""Pristine renders: the project exactly as the templates made it, kept as git commits.

The base of a template update is the newest pristine render the project's history has
merged: the merge base of ``HEAD`` and the ``mlship/template`` branch, or, in a project
of mlship 0.1.0 (which kept no branch), its first commit, which ``mlship new`` made of
the render alone. A new pristine render becomes a commit whose parent is that base, so
``git merge`` sees the template's changes as one side and the team's as the other.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from mlship.errors import InputError
from mlship.lifecycle.repo import Repo
from mlship.provenance import ANSWERS_FILE, TEMPLATE_BRANCH, ProjectAnswers, parse_answers

# What `mlship new` writes beside the render: the decision record and the imported model.
# They are the project's, so every pristine render carries them as its base had them.
PROJECT_OWN = ("mlship.yaml", "models/")


@dataclass(frozen=True)
class Pristine:
    """A pristine render in the project's history and what its answers file says."""

    commit: str
    answers: ProjectAnswers
    on_branch: bool


def find_pristine(repo: Repo) -> Pristine | None:
    """The newest pristine render that ``HEAD`` contains; None where there is none."""
    # a clone (CI's checkout) may have the branch only as the remote's
    names = (f"refs/heads/{TEMPLATE_BRANCH}", f"refs/remotes/origin/{TEMPLATE_BRANCH}")
    branch = next((name for name in names if repo.commit_of(name) is not None), names[0])
    commit: str | None = None
    on_branch = repo.commit_of(branch) is not None
    if on_branch:
        found = repo.run("merge-base", "HEAD", branch)
        commit = found.stdout.strip() if found.returncode == 0 else None
    if commit is None:
        roots = repo.out("rev-list", "--max-parents=0", "HEAD").split()
        commit = roots[0] if len(roots) == 1 else None
        on_branch = False
    if commit is None:
        return None
    text = repo.show(commit, ANSWERS_FILE)
    if text is None:
        return None
    return Pristine(commit, parse_answers(text, f"{commit[:12]}:{ANSWERS_FILE}"), on_branch)


def no_pristine_error(repo: Repo) -> InputError:
    return InputError(
        f"{repo.root}: no pristine render found (no {TEMPLATE_BRANCH} branch, and the first "
        f"commit has no {ANSWERS_FILE})",
        hint=f"point the branch at the commit `mlship new` made: "
        f"git branch {TEMPLATE_BRANCH} <commit>",
    )


def _carried(repo: Repo, base: str) -> list[tuple[str, str, str]]:
    """(mode, blob, path) of the base's own files (record, models) a render carries."""
    listed = repo.out("ls-tree", "-r", "-z", base, "--", *PROJECT_OWN)
    entries = []
    for item in listed.split("\0"):
        if item:
            meta, path = item.split("\t", 1)
            mode, _, blob = meta.split()
            entries.append((mode, blob, path))
    return entries


def commit_render(repo: Repo, folder: Path, base: str, message: str) -> str:
    """Commit ``folder`` (plus the base's own files the render lacks) on top of ``base``."""
    git_dir = repo.out("rev-parse", "--absolute-git-dir")
    with tempfile.TemporaryDirectory(prefix="mlship-index-") as tmp:
        index = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        indexed = repo.with_env(**index)
        rendered = Repo(folder, {**repo.env, **index, "GIT_DIR": git_dir, "GIT_WORK_TREE": "."})
        rendered.out("add", "--all", "--force", ".")
        present = set(indexed.out("ls-files", "-z").split("\0"))
        for mode, blob, path in _carried(repo, base):
            if path not in present:
                indexed.out("update-index", "--add", "--cacheinfo", f"{mode},{blob},{path}")
        tree = indexed.out("write-tree")
    author = repo.with_env(**repo.identity_env())
    return author.out("commit-tree", tree, "-p", base, "-m", message)


def tree_of(repo: Repo, commit: str) -> str:
    return repo.out("rev-parse", f"{commit}^{{tree}}")
