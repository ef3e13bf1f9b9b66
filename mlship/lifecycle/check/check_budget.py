"""Rules on the budget: declared as the pattern needs it, and met by the newest spike.

Both read the pattern's knowledge base file: ``spike.declared`` (what mlship.yaml must
state) and ``spike.criteria`` (what a spike of that pattern is judged on); where each
figure sits in a report is :mod:`mlship.lifecycle.check.spike_reports`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mlship.contracts import Budget
from mlship.knowledge.budget import BudgetFlags, resolve_budget
from mlship.lifecycle.check.check_model import artifacts
from mlship.lifecycle.check.context import Context, Unreadable
from mlship.lifecycle.check.findings import Finding
from mlship.lifecycle.check.rules import Rule
from mlship.lifecycle.check.spike_reports import Report, misses
from mlship.record import DEFAULT_NAME


def declared_budget(ctx: Context) -> Budget:
    """The pattern's criteria as mlship.yaml states them (budget, then answers), no default."""
    return resolve_budget(BudgetFlags(), ctx.record, defaults=(), pattern=ctx.knowledge).budget


def budget_declared(ctx: Context, rule: Rule) -> Iterator[Finding]:
    """The criteria the pattern's knowledge base file names under ``spike.declared``."""
    budget = declared_budget(ctx)
    missing = [name for name in ctx.knowledge.spike.declared if getattr(budget, name) is None]
    if missing:
        yield rule.finding(
            f"mlship.yaml declares no {', '.join(missing)} for this {ctx.kind} "
            f"({ctx.pattern} pattern)",
            DEFAULT_NAME,
            ctx.record_line("budget"),
        )


def _time(value: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


@dataclass(frozen=True)
class Newest:
    """The newest complete report of the project's load, and what was passed over."""

    report: Report | None
    interrupted: list[str]


def _newest(ctx: Context, rule: Rule) -> Newest:
    """By start time; an interrupted run (no verdict) gives way to the newest complete one,
    and a report of another kind of load (not this pattern's) does not count."""
    dated: list[tuple[datetime, Report]] = []
    interrupted = []
    for rel in ctx.files(str(rule.params.get("reports", "spikes/*/result.json"))):
        try:
            data = ctx.json(rel)
        except Unreadable:
            continue
        started = _time(data.get("started")) if isinstance(data, dict) else None
        if started is None:
            continue
        report = Report(rel, data)
        if report.kind != ctx.kind:
            continue
        if report.interrupted:
            interrupted.append(rel)
            continue
        dated.append((started, report))
    newest = max(dated, key=lambda item: item[0])[1] if dated else None
    return Newest(newest, sorted(interrupted))


def _model_time(ctx: Context, rule: Rule) -> tuple[datetime, str] | None:
    newest: tuple[datetime, str] | None = None
    for rel in ctx.files(rule.params.get("manifests", ["models/**/manifest.json"])):
        try:
            document = ctx.json(rel)
        except Unreadable:
            continue
        for entry in artifacts(document):
            created = _time(entry.get("created"))
            if created is not None and (newest is None or created > newest[0]):
                newest = (created, rel)
    return newest


def budget_spike(ctx: Context, rule: Rule) -> Iterator[Finding]:
    """The newest complete report against the pattern's budget as mlship.yaml states it."""
    report = _newest(ctx, rule).report
    if report is None:
        return
    budget = declared_budget(ctx)
    limits: dict[str, float | None] = {
        name: getattr(budget, name) for name in ctx.knowledge.spike.criteria
    }
    missed = misses(report, limits)
    if missed:
        yield rule.finding(
            f"the newest spike ({report.rel}) misses the {ctx.pattern} budget in mlship.yaml: "
            + "; ".join(missed),
            report.rel,
            None,
        )
    model = _model_time(ctx, rule)
    started = _time(report.data.get("started"))
    if model is not None and started is not None and started < model[0]:
        yield rule.finding(
            f"the newest spike ({report.rel}, {started:%Y-%m-%d %H:%M}) is older than the "
            f"model ({model[1]}, {model[0]:%Y-%m-%d %H:%M})",
            report.rel,
            None,
            hint="run `mlship spike` against the current model",
        )


def budget_spike_missing(ctx: Context, rule: Rule) -> Iterator[Finding]:
    newest = _newest(ctx, rule)
    if newest.report is None:
        skipped = (
            f" ({len(newest.interrupted)} interrupted run(s) passed over: "
            f"{', '.join(newest.interrupted)})"
            if newest.interrupted
            else ""
        )
        yield rule.finding(
            f"no complete spike report of this {ctx.kind}'s load under spikes/: the "
            f"{ctx.pattern} budget has not been load-tested{skipped}",
            "spikes",
            None,
        )
