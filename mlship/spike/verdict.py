"""The budget a spike is judged against, and the verdict with a reason per criterion.

The budget comes from the project's decision record (``mlship.yaml``) and each flag
overrides its own criterion; which criteria there are is the pattern's (its knowledge
base file). Without any budget a spike still reports its figures but gives no verdict,
and says so, rather than passing by default.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlship.contracts import DecisionRecord
from mlship.errors import InputError
from mlship.knowledge import budget as budgets
from mlship.knowledge.patterns import Pattern
from mlship.spike.profiles import positive
from mlship.spike.result import BudgetUsed, Capacity, Criterion, Stats, Verdict

FLAG_OF = {
    "p99_ms": "--p99-ms",
    "max_error_rate": "--max-error-rate",
    "min_rps": "--min-rps",
    "max_memory_mb": "--max-memory-mb",
    "max_model_mb": "--max-model-mb",
    "max_lag": "--max-lag",
}
RPS_SLACK = budgets.RPS_SLACK
UNITS = {"service": "req/s", "job": "rows/s", "consumer": "events/s", "export": "rows/s"}


@dataclass(frozen=True)
class BudgetFlags(budgets.BudgetFlags):
    """The spike's budget flags, checked before anything runs."""

    def check(self) -> None:
        positive(self.p99_ms, "--p99-ms")
        positive(self.min_rps, "--min-rps")
        positive(self.max_memory_mb, "--max-memory-mb")
        positive(self.max_model_mb, "--max-model-mb")
        rate = self.max_error_rate
        if rate is not None and not 0 <= rate <= 1:
            raise InputError(f"--max-error-rate: {rate!r} must be between 0 and 1 (0.01 = 1 %)")
        if self.max_lag is not None and self.max_lag < 0:
            raise InputError(f"--max-lag: {self.max_lag!r} must be 0 or more (events)")

    def given(self) -> list[str]:
        return [name for name in FLAG_OF if getattr(self, name) is not None]


def resolve_budget(
    record: DecisionRecord | None, flags: BudgetFlags, pattern: Pattern | None = None
) -> BudgetUsed:
    """Each criterion of the pattern from its flag, else from ``mlship.yaml``. A flag for a
    criterion the pattern does not have is bad input.

    Without a record only the flags count: a spike against a bare URL judges nothing that
    nobody stated. With a record, a missing error budget takes the global default and a
    criterion only some patterns have takes its pattern's default (``spike.defaults``), but
    a missing p99 or throughput floor stays missing (a capacity search needs a p99 and
    says so).
    """
    flags.check()
    criteria = budgets.criteria_of(pattern)
    stray = [name for name in flags.given() if name not in criteria]
    if stray:
        what = pattern.name if pattern is not None else "service"
        raise InputError(
            f"{FLAG_OF[stray[0]]}: {'an' if what[:1] in 'aeiou' else 'a'} {what} project's "
            f"budget has no {stray[0]} (its criteria: {', '.join(criteria)})",
            hint="docs/spike.md lists what each pattern is judged on",
        )
    defaults: tuple[str, ...] = ()
    if record is not None:
        own = tuple(pattern.spike.defaults) if pattern is not None else ()
        defaults = ("max_error_rate", *own)
    resolved = budgets.resolve_budget(
        flags, record, defaults=defaults, pattern=pattern, criteria=criteria
    )
    chosen = resolved.budget
    kind = pattern.kind if pattern is not None else "service"
    return BudgetUsed(
        p99_ms=chosen.p99_ms,
        max_error_rate=chosen.max_error_rate,
        min_rps=chosen.min_rps,
        max_memory_mb=chosen.max_memory_mb,
        max_model_mb=chosen.max_model_mb,
        max_lag=chosen.max_lag,
        unit=UNITS[kind],
        source=resolved.source,
    )


def has_budget(budget: BudgetUsed) -> bool:
    return any(getattr(budget, name) is not None for name in FLAG_OF)


def _num(value: float, unit: str) -> str:
    if float(value).is_integer():
        text = f"{value:.0f}"
    else:
        text = f"{value:.1f}" if abs(value) >= 10 else f"{value:.3g}"
    return f"{text} {unit}".rstrip()


def check_at_most(
    name: str, measured: float | None, limit: float, what: str, unit: str, missing: str
) -> Criterion:
    """A criterion that holds when ``measured`` is at most ``limit``."""
    if measured is None:
        return Criterion(name=name, limit=limit, measured=None, passed=False, reason=missing)
    passed = measured <= limit
    if passed:
        reason = f"{what} {_num(measured, unit)} is within the {_num(limit, unit)} budget"
    else:
        reason = (
            f"{what} {_num(measured, unit)} exceeds the {_num(limit, unit)} budget "
            f"by {_num(measured - limit, unit)}"
        )
    return Criterion(name=name, limit=limit, measured=measured, passed=passed, reason=reason)


def check_at_least(
    name: str, measured: float | None, limit: float, what: str, unit: str, missing: str
) -> Criterion:
    """A criterion that holds when ``measured`` reaches ``limit`` (less the counting margin)."""
    if measured is None:
        return Criterion(name=name, limit=limit, measured=None, passed=False, reason=missing)
    passed = measured >= limit * (1 - RPS_SLACK)
    word = "meets" if passed else "falls short of"
    reason = f"{what} {_num(measured, unit)} {word} the target of {_num(limit, unit)}"
    if passed and measured < limit:
        reason += f" (within the {RPS_SLACK:.0%} counting margin)"
    return Criterion(name=name, limit=limit, measured=measured, passed=passed, reason=reason)


def overall(criteria: list[Criterion]) -> Verdict | None:
    """PASS only when every criterion holds; None when there is none."""
    if not criteria:
        return None
    return "PASS" if all(c.passed for c in criteria) else "FAIL"


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


def check_rps(
    measured: float | None,
    limit: float,
    offered: float | None,
    what: str,
    unit: str = "req/s",
) -> Criterion:
    if measured is None:
        return Criterion(
            name="min_rps",
            limit=limit,
            measured=None,
            passed=False,
            reason=f"no rate met the budget, so the target of {limit:g} {unit} is not reached",
        )
    passed = measured >= limit * (1 - RPS_SLACK)
    word = "meets" if passed else "falls short of"
    reason = f"{what} {measured:.1f} {unit} {word} the target of {limit:g} {unit}"
    if passed and measured < limit:
        reason += f" (within the {RPS_SLACK:.0%} counting margin)"
    if not passed and offered is not None and offered < limit:
        reason += f" (only {offered:g} {unit} were offered: run with --rate {limit:g})"
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
        unit = budget.unit
        if capacity is not None:
            criteria.append(
                check_rps(capacity.sustainable_rps, budget.min_rps, None, "sustainable rate", unit)
            )
        else:
            offered = stats.schedule.offered_rps if stats.schedule else None
            criteria.append(
                check_rps(
                    stats.sustained_rps, budget.min_rps, offered, "sustained throughput", unit
                )
            )
    verdict: Verdict = "PASS" if all(c.passed for c in criteria) else "FAIL"
    return verdict, criteria
