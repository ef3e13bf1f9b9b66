"""The budget a spike is judged against, and the verdict with a reason per criterion.

The budget comes from the project's decision record (``mlship.yaml``) and each flag
overrides its own criterion. Without any budget a spike still reports its figures but
gives no verdict, and says so, rather than passing by default.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlship.contracts import DecisionRecord
from mlship.errors import InputError
from mlship.knowledge import budget as budgets
from mlship.spike.profiles import positive
from mlship.spike.result import BudgetUsed, Capacity, Criterion, Stats, Verdict


@dataclass(frozen=True)
class BudgetFlags(budgets.BudgetFlags):
    """The spike's budget flags, checked before anything runs."""

    def check(self) -> None:
        positive(self.p99_ms, "--p99-ms")
        positive(self.min_rps, "--min-rps")
        rate = self.max_error_rate
        if rate is not None and not 0 <= rate <= 1:
            raise InputError(f"--max-error-rate: {rate!r} must be between 0 and 1 (0.01 = 1 %)")


def resolve_budget(record: DecisionRecord | None, flags: BudgetFlags) -> BudgetUsed:
    """Each criterion from its flag, else from ``mlship.yaml``.

    Without a record only the flags count: a spike against a bare URL judges nothing that
    nobody stated. With a record, a missing error budget takes the global default, but a
    missing p99 stays missing (a capacity search needs one and says so).
    """
    flags.check()
    defaults = ("max_error_rate",) if record is not None else ()
    resolved = budgets.resolve_budget(flags, record, defaults=defaults)
    chosen = resolved.budget
    return BudgetUsed(
        p99_ms=chosen.p99_ms,
        max_error_rate=chosen.max_error_rate,
        min_rps=chosen.min_rps,
        source=resolved.source,
    )


def has_budget(budget: BudgetUsed) -> bool:
    return any(v is not None for v in (budget.p99_ms, budget.max_error_rate, budget.min_rps))


def _ms(value: float) -> str:
    return f"{value:.1f} ms" if value >= 10 else f"{value:.2f} ms"


def check_p99(stats: Stats, limit: float) -> Criterion:
    measured = stats.latency_ms.p99
    if measured is None:
        return Criterion(
            name="p99_ms",
            limit=limit,
            measured=None,
            passed=False,
            reason="no request got an answer, so there is no latency to judge",
        )
    passed = measured <= limit
    if passed:
        reason = f"p99 {_ms(measured)} is within the {_ms(limit)} budget"
    else:
        reason = f"p99 {_ms(measured)} exceeds the {_ms(limit)} budget by {_ms(measured - limit)}"
    return Criterion(name="p99_ms", limit=limit, measured=measured, passed=passed, reason=reason)


def check_errors(stats: Stats, limit: float) -> Criterion:
    rate = stats.error_rate
    passed = rate <= limit
    kinds = ", ".join(f"{n} {kind}" for kind, n in list(stats.errors_by_kind.items())[:3])
    detail = f" ({kinds})" if kinds else ""
    word = "within" if passed else "above"
    reason = (
        f"error rate {rate:.2%} ({stats.errors} of {stats.requests}){detail} "
        f"is {word} the {limit:.2%} budget"
    )
    return Criterion(
        name="max_error_rate", limit=limit, measured=rate, passed=passed, reason=reason
    )


RPS_SLACK = 0.02  # counting at the edges of the measuring window: +-1 request in 50


def check_rps(measured: float | None, limit: float, offered: float | None, what: str) -> Criterion:
    if measured is None:
        return Criterion(
            name="min_rps",
            limit=limit,
            measured=None,
            passed=False,
            reason=f"no rate met the budget, so the target of {limit:g} req/s is not reached",
        )
    passed = measured >= limit * (1 - RPS_SLACK)
    word = "meets" if passed else "falls short of"
    reason = f"{what} {measured:.1f} req/s {word} the target of {limit:g} req/s"
    if passed and measured < limit:
        reason += f" (within the {RPS_SLACK:.0%} counting margin)"
    if not passed and offered is not None and offered < limit:
        reason += f" (only {offered:g} req/s were offered: run with --rate {limit:g})"
    return Criterion(name="min_rps", limit=limit, measured=measured, passed=passed, reason=reason)


def judge(
    stats: Stats, budget: BudgetUsed, capacity: Capacity | None = None
) -> tuple[Verdict | None, list[Criterion]]:
    """PASS only when every criterion of the budget holds; None without any budget."""
    if not has_budget(budget):
        return None, []
    criteria = []
    if budget.p99_ms is not None:
        criteria.append(check_p99(stats, budget.p99_ms))
    if budget.max_error_rate is not None:
        criteria.append(check_errors(stats, budget.max_error_rate))
    if budget.min_rps is not None:
        if capacity is not None:
            criteria.append(
                check_rps(capacity.sustainable_rps, budget.min_rps, None, "sustainable rate")
            )
        else:
            offered = stats.schedule.offered_rps if stats.schedule else None
            criteria.append(
                check_rps(stats.sustained_rps, budget.min_rps, offered, "sustained throughput")
            )
    verdict: Verdict = "PASS" if all(c.passed for c in criteria) else "FAIL"
    return verdict, criteria
