"""Rule on observability: the alert rules and dashboards use only metrics the code exports.

The exported names come from the project's own metric definitions (``metric_defs``), so
renaming a metric in the code without the alerts (or the reverse) is caught.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mlship.lifecycle.check.context import Context, Unreadable
from mlship.lifecycle.check.findings import Finding
from mlship.lifecycle.check.metric_defs import exported_series, mentions_metrics
from mlship.lifecycle.check.promql import metric_names
from mlship.lifecycle.check.rules import Rule
from mlship.lifecycle.check.yaml_lines import line_of


def _exported(ctx: Context, rule: Rule) -> set[str]:
    names: set[str] = set(rule.params.get("builtin", []))
    for rel in ctx.files(rule.params.get("sources", ["src/**/*.py"])):
        text = ctx.text(rel) or ""
        if mentions_metrics(text):
            names |= set(exported_series(text))
    return names


def _alert_expressions(ctx: Context, rel: str) -> Iterator[tuple[str, int | None, str | None]]:
    """(expr, line, recorded name) of every rule in a Prometheus rules file."""
    for doc in ctx.documents(rel):
        if not isinstance(doc, dict) or not isinstance(doc.get("groups"), list):
            continue
        for group in doc["groups"]:
            for item in (group or {}).get("rules") or [] if isinstance(group, dict) else []:
                if isinstance(item, dict) and isinstance(item.get("expr"), str):
                    yield item["expr"], line_of(item, "expr"), item.get("record")


def _dashboard_expressions(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "expr" and isinstance(value, str):
                yield value
            else:
                yield from _dashboard_expressions(value)
    elif isinstance(node, list):
        for item in node:
            yield from _dashboard_expressions(item)


def observability_metrics(ctx: Context, rule: Rule) -> Iterator[Finding]:
    exported = _exported(ctx, rule)
    prefixes = tuple(rule.params.get("builtin_prefixes", []))
    uses: list[tuple[str, str, int | None]] = []  # (metric, file, line)
    for rel in ctx.files(rule.params.get("alerts", ["observability/**/*.yml"])):
        try:
            expressions = list(_alert_expressions(ctx, rel))
        except Unreadable as problem:
            yield rule.finding(problem.message, rel, problem.line)
            continue
        exported |= {str(name) for _, _, name in expressions if name}  # recording rules
        for expr, line, _ in expressions:
            for name in metric_names(expr):
                uses.append((name, rel, ctx.line_containing(rel, name, line or 1) or line))
    for rel in ctx.files(rule.params.get("dashboards", ["observability/**/*.json"])):
        try:
            dashboard = ctx.json(rel)
        except Unreadable as problem:
            yield rule.finding(problem.message, rel, problem.line)
            continue
        for expr in _dashboard_expressions(dashboard):
            for name in metric_names(expr):
                uses.append((name, rel, ctx.line_containing(rel, name)))
    reported: set[tuple[str, str]] = set()
    for name, rel, line in uses:
        if name in exported or name.startswith(prefixes) or (name, rel) in reported:
            continue
        reported.add((name, rel))
        yield rule.finding(
            f"{rel} uses {name}, which the project's source does not export", rel, line
        )
