"""Rules on the waivers themselves: each names a known rule and says why; none has expired."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from mlship.lifecycle.check.context import Context, Unreadable
from mlship.lifecycle.check.findings import Finding
from mlship.lifecycle.check.rules import Rule
from mlship.lifecycle.check.yaml_lines import line_of
from mlship.record import DEFAULT_NAME


def waiver_line(ctx: Context, index: int) -> int | None:
    """The line of the ``index``-th waiver in mlship.yaml."""
    try:
        record = ctx.documents(DEFAULT_NAME)[0]
        return line_of(record["check"]["waive"][index], "rule")
    except (LookupError, TypeError, Unreadable):
        return ctx.record_line("check", "waive")


def waivers_valid(ctx: Context, rule: Rule) -> Iterator[Finding]:
    known = set(ctx.rule_ids)
    for index, waiver in enumerate(ctx.record.check.waive):
        if not waiver.reason.strip():
            yield rule.finding(
                f"the waiver of {waiver.rule} gives no reason, so it is not applied",
                DEFAULT_NAME,
                waiver_line(ctx, index),
            )
        if not any(_covers(waiver.rule, rule_id) for rule_id in known):
            yield rule.finding(
                f"the waiver names {waiver.rule}, which is not a rule",
                DEFAULT_NAME,
                waiver_line(ctx, index),
                hint=f"rules: {', '.join(sorted(known))}",
            )


def waivers_current(ctx: Context, rule: Rule) -> Iterator[Finding]:
    today = date.today()
    for index, waiver in enumerate(ctx.record.check.waive):
        if waiver.until is not None and waiver.until < today:
            yield rule.finding(
                f"the waiver of {waiver.rule} expired on {waiver.until}, so it is not applied",
                DEFAULT_NAME,
                waiver_line(ctx, index),
            )


def _covers(pattern: str, rule_id: str) -> bool:
    """``container.secrets`` covers itself; ``container.*`` covers the whole area."""
    if pattern.endswith(".*"):
        return rule_id.startswith(pattern[:-1])
    return pattern == rule_id


def applicable(ctx: Context, rule_id: str) -> tuple[bool, str | None]:
    """Whether a valid, current waiver covers ``rule_id``, and its reason."""
    today = date.today()
    for waiver in ctx.record.check.waive:
        current = waiver.until is None or waiver.until >= today
        if _covers(waiver.rule, rule_id) and waiver.reason.strip() and current:
            return True, waiver.reason
    return False, None
