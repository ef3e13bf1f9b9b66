"""Rule on CI: a workflow runs the project's tests and ``mlship check``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from mlship.lifecycle.check.context import Context, Unreadable
from mlship.lifecycle.check.findings import Finding
from mlship.lifecycle.check.rules import Rule


def _commands(node: Any) -> Iterator[str]:
    """Every ``run:`` of every step of every job."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "run" and isinstance(value, str):
                yield value
            else:
                yield from _commands(value)
    elif isinstance(node, list):
        for item in node:
            yield from _commands(item)


def ci_workflow(ctx: Context, rule: Rule) -> Iterator[Finding]:
    workflows = ctx.files(rule.params.get("workflows", [".github/workflows/*.yml"]))
    if not workflows:
        yield rule.finding("the project has no CI workflow", ".github/workflows", None)
        return
    commands: list[str] = []
    for rel in workflows:
        try:
            commands += [c for doc in ctx.documents(rel) for c in _commands(doc)]
        except Unreadable as problem:
            yield rule.finding(problem.message, rel, problem.line)
    for what, key in (("the project's tests", "tests"), ("mlship check", "check")):
        patterns = [re.compile(p) for p in rule.params.get(key, [])]
        if patterns and not any(p.search(c) for p in patterns for c in commands):
            yield rule.finding(f"no CI workflow step runs {what}", workflows[0], 1)
