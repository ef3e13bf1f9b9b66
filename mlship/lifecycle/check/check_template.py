"""Rules on the template: owned files as rendered, and the template version current."""

from __future__ import annotations

from collections.abc import Iterator

from mlship.lifecycle.check import globs
from mlship.lifecycle.check.context import Context
from mlship.lifecycle.check.findings import Finding
from mlship.lifecycle.check.rules import Rule
from mlship.lifecycle.pristine import find_pristine
from mlship.provenance import TEMPLATE_BRANCH, is_older
from mlship.version import __version__


def _first_difference(old: str, new: str) -> int:
    old_lines, new_lines = old.splitlines(), new.splitlines()
    for number, (a, b) in enumerate(zip(old_lines, new_lines, strict=False), start=1):
        if a != b:
            return number
    return min(len(old_lines), len(new_lines)) + 1


def template_drift(ctx: Context, rule: Rule) -> Iterator[Finding]:
    """Owned files differ from (or are missing from) the pristine render of the project."""
    owned = [*rule.params.get("owned", []), *ctx.record.check.files.owned]
    free = [*rule.params.get("free", []), *ctx.record.check.files.free]
    if ctx.repo is None:
        yield rule.finding(
            "the project is not a git repository, so its files cannot be compared with the "
            "pristine render",
            hint="commit the project as `mlship new` does (git init; git add -A; git commit)",
            severity="warning",
        )
        return
    pristine = find_pristine(ctx.repo)
    if pristine is None:
        yield rule.finding(
            f"no pristine render found (no {TEMPLATE_BRANCH} branch, and the first commit is "
            "not the render)",
            hint=f"git branch {TEMPLATE_BRANCH} <the commit mlship new made>",
            severity="warning",
        )
        return
    rendered = ctx.repo.out("ls-tree", "-r", "-z", "--name-only", pristine.commit).split("\0")
    paths = [p for p in rendered if p and globs.matches(p, owned) and not globs.matches(p, free)]
    if not paths:
        return
    diff = ctx.repo.out("diff", "--no-renames", "--name-status", pristine.commit, "--", *paths)
    for line in diff.splitlines():
        status, _, path = line.partition("\t")
        if status == "D":
            yield rule.finding(f"{path} is owned by the templates and was deleted", path, None)
            continue
        old = ctx.repo.show(pristine.commit, path) or ""
        new = ctx.text(path) or ""
        yield rule.finding(
            f"{path} is owned by the templates and differs from the pristine render of "
            f"template {pristine.answers.version}",
            path,
            _first_difference(old, new),
        )


def template_outdated(ctx: Context, rule: Rule) -> Iterator[Finding]:
    """The recorded template version is older than the installed mlship's."""
    if is_older(ctx.answers.version, __version__):
        yield rule.finding(
            f"the project is on template {ctx.answers.version}; mlship {__version__} is installed",
            ".copier-answers.yml",
            ctx.line_containing(".copier-answers.yml", "_commit:"),
        )
