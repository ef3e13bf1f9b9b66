"""Capacity search: the highest open-model arrival rate that still meets the budget.

The rate doubles from the start rate until a step breaks the budget, then the interval
between the last good and the first bad rate is bisected down to the resolution. Each
step is a short open-model run; the whole search stops at its time limit and reports
what it found so far and why it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from mlship.spike.profiles import CapacityProfile
from mlship.spike.result import BudgetUsed, Capacity, CapacityStep, Stats

LATE_SHARE_LIMIT = 0.05  # beyond this the generator, not the service, sets the pace


def assess(rate: float, stats: Stats, budget: BudgetUsed) -> CapacityStep:
    """Judge one step; the reason names the first criterion it broke."""
    p99 = stats.latency_ms.p99
    schedule = stats.schedule
    late = schedule.late if schedule else 0
    dropped = schedule.dropped if schedule else 0
    max_errors = budget.max_error_rate if budget.max_error_rate is not None else 0.0
    reasons = []
    if budget.p99_ms is not None and (p99 is None or p99 > budget.p99_ms):
        shown = "n/a" if p99 is None else f"{p99:.1f}"
        reasons.append(f"p99 {shown} ms > {budget.p99_ms:g} ms")
    if stats.error_rate > max_errors:
        reasons.append(f"error rate {stats.error_rate:.2%} > {max_errors:.2%}")
    if dropped:
        reasons.append(f"{dropped} sends dropped (max outstanding reached)")
    return CapacityStep(
        rate=round(rate, 3),
        requests=stats.requests,
        rps=stats.sustained_rps,
        p50_ms=stats.latency_ms.p50,
        p99_ms=p99,
        error_rate=stats.error_rate,
        late=late,
        dropped=dropped,
        sustainable=not reasons,
        reason="; ".join(reasons) if reasons else "within budget",
    )


def search(
    profile: CapacityProfile,
    budget: BudgetUsed,
    run_step: Callable[[float], Stats],
    clock: Callable[[], float] = time.monotonic,
) -> tuple[Capacity, dict[float, Stats]]:
    """Run steps until the knee is bracketed to the resolution or the time is up."""
    started = clock()
    steps: list[CapacityStep] = []
    seen: dict[float, Stats] = {}
    step_cost = profile.step_s * 2  # refined after the first step

    def time_left() -> bool:
        return clock() - started + step_cost <= profile.max_time_s

    def run(rate: float) -> CapacityStep:
        nonlocal step_cost
        before = clock()
        stats = run_step(rate)
        step_cost = max(step_cost if steps else 0.0, clock() - before)
        seen[rate] = stats
        step = assess(rate, stats, budget)
        steps.append(step)
        return step

    good: float | None = None
    bad: float | None = None
    limited_by = "time"
    rate = profile.start_rate
    while True:
        if steps and not time_left():
            break
        step = run(rate)
        if step.sustainable and step.late > LATE_SHARE_LIMIT * step.requests:
            good, limited_by = rate, "load generator"
            break
        if not step.sustainable:
            bad, limited_by = rate, "budget"
            break
        good = rate
        if rate >= profile.max_rate:
            limited_by = "max rate"
            break
        rate = min(rate * 2, profile.max_rate)
    while good is not None and bad is not None and (bad - good) / good > profile.resolution:
        if not time_left():
            limited_by = "time"
            break
        middle = (good + bad) / 2
        if run(middle).sustainable:
            good = middle
        else:
            bad = middle
    capacity = Capacity(
        sustainable_rps=round(good, 3) if good is not None else None,
        limited_by=limited_by,
        steps=steps,
        elapsed_s=round(clock() - started, 3),
    )
    return capacity, seen
