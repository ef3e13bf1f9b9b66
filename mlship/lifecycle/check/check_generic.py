"""Checks for an organisation's own rules, configured entirely by the rule's ``params``."""

from __future__ import annotations

import re
from collections.abc import Iterator

from mlship.lifecycle.check.context import Context
from mlship.lifecycle.check.findings import Finding
from mlship.lifecycle.check.rules import Rule


def file_exists(ctx: Context, rule: Rule) -> Iterator[Finding]:
    """params: {path: GLOB}: at least one file matches."""
    path = str(rule.params.get("path", ""))
    if not ctx.files(path):
        yield rule.finding(f"the project has no {path}", path, None)


def file_matches(ctx: Context, rule: Rule) -> Iterator[Finding]:
    """params: {path: GLOB, regex: RE}: every matching file has a line matching RE."""
    pattern = re.compile(str(rule.params.get("regex", "")), re.MULTILINE)
    for rel in ctx.files(str(rule.params.get("path", ""))):
        if not pattern.search(ctx.text(rel) or ""):
            yield rule.finding(f"{rel} has no line matching {pattern.pattern}", rel, None)


def file_lacks(ctx: Context, rule: Rule) -> Iterator[Finding]:
    """params: {path: GLOB, regex: RE}: no line of a matching file matches RE."""
    pattern = re.compile(str(rule.params.get("regex", "")))
    for rel in ctx.files(str(rule.params.get("path", ""))):
        for number, line in enumerate((ctx.text(rel) or "").splitlines(), start=1):
            if pattern.search(line):
                yield rule.finding(f"{rel} matches {pattern.pattern}", rel, number)
