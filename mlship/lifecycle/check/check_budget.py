"""Rules on the budget: declared where the pattern needs it, and met by the newest spike."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from mlship.contracts import Budget
from mlship.knowledge.budget import BudgetFlags, resolve_budget
from mlship.lifecycle.check.check_model import artifacts
from mlship.lifecycle.check.context import Context, Unreadable
from mlship.lifecycle.check.findings import Finding
from mlship.lifecycle.check.rules import Rule
from mlship.record import DEFAULT_NAME


def declared_budget(ctx: Context) -> Budget:
    """What mlship.yaml states (its budget, then its answers), without any default."""
    return resolve_budget(BudgetFlags(), ctx.record, defaults=()).budget


def budget_declared(ctx: Context, rule: Rule) -> Iterator[Finding]:
    needs = (rule.params.get("needs") or {}).get(ctx.kind, [])
    budget = declared_budget(ctx)
    missing = [name for name in needs if getattr(budget, name, None) is None]
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


def _reports(ctx: Context, rule: Rule) -> list[str]:
    return ctx.files(str(rule.params.get("reports", "spikes/*/result.json")))


def _newest(ctx: Context, reports: list[str]) -> tuple[str, dict[str, Any]] | None:
    dated = []
    for rel in reports:
        try:
            data = ctx.json(rel)
        except Unreadable:
            continue
        started = _time(data.get("started")) if isinstance(data, dict) else None
        if started is not None:
            dated.append((started, rel, data))
    if not dated:
        return None
    _, rel, data = max(dated, key=lambda item: item[0])
    return rel, data


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


def _misses(stats: dict[str, Any], budget: Budget) -> list[str]:
    misses = []
    p99 = (stats.get("latency_ms") or {}).get("p99")
    if budget.p99_ms is not None and (p99 is None or p99 > budget.p99_ms):
        misses.append(f"p99 {p99} ms > {budget.p99_ms:g} ms")
    rate = stats.get("error_rate")
    if budget.max_error_rate is not None and (rate is None or rate > budget.max_error_rate):
        misses.append(f"error rate {rate} > {budget.max_error_rate:g}")
    rps = stats.get("sustained_rps")
    if budget.min_rps is not None and (rps is None or rps < budget.min_rps):
        misses.append(f"sustained {rps} req/s < {budget.min_rps:g} req/s")
    return misses


def budget_spike(ctx: Context, rule: Rule) -> Iterator[Finding]:
    newest = _newest(ctx, _reports(ctx, rule))
    if newest is None:
        return
    rel, data = newest
    misses = _misses(data.get("stats") or {}, declared_budget(ctx))
    if misses:
        yield rule.finding(
            f"the newest spike ({rel}) misses the budget in mlship.yaml: " + "; ".join(misses),
            rel,
            None,
        )
    model = _model_time(ctx, rule)
    started = _time(data.get("started"))
    if model is not None and started is not None and started < model[0]:
        yield rule.finding(
            f"the newest spike ({rel}, {started:%Y-%m-%d %H:%M}) is older than the "
            f"model ({model[1]}, {model[0]:%Y-%m-%d %H:%M})",
            rel,
            None,
            hint="run `mlship spike` against the current model",
        )


def budget_spike_missing(ctx: Context, rule: Rule) -> Iterator[Finding]:
    if _newest(ctx, _reports(ctx, rule)) is None:
        yield rule.finding(
            "no spike report under spikes/: the budget has not been load-tested", "spikes", None
        )
