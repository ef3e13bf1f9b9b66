"""Figures of one spike from its raw arrays: exact percentiles, losses, lateness, throughput.

Percentiles are nearest-rank on every measured latency (no buckets, no interpolation), as
in ``mlship spike``: p99 is the smallest latency that at least 99 % of the events with a
prediction did not exceed. Events without a prediction are counted as missing, never as
fast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

PERCENTILES = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p99_9": 99.9}


@dataclass
class Observed:
    """What one run saw, per scheduled event (index i is the i-th event of the schedule).

    Times are seconds on one monotonic clock, from the start of the schedule.
    """

    due_s: np.ndarray  # when each event was scheduled to be sent
    sent_s: np.ndarray  # when it was handed to the producer (nan: never)
    arrived_s: np.ndarray  # when its first prediction reached the reader (nan: none)
    copies: np.ndarray  # predictions seen for it (more than 1: duplicates)
    dead: np.ndarray  # True when it reached the dead-letter topic instead


def percentile(ordered: np.ndarray, p: float) -> float | None:
    """Nearest-rank percentile of an ascending array; None when it is empty."""
    if len(ordered) == 0:
        return None
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return float(ordered[min(rank, len(ordered)) - 1])


def latency_ms(observed: Observed) -> np.ndarray:
    """Scheduled send to first prediction, for the events that got one (ascending)."""
    got = ~np.isnan(observed.arrived_s)
    return np.sort((observed.arrived_s[got] - observed.due_s[got]) * 1000.0)


def latency_summary(ordered: np.ndarray) -> dict[str, float | None]:
    if len(ordered) == 0:
        return dict.fromkeys(["min", "mean", *PERCENTILES, "max"])
    summary: dict[str, float | None] = {"min": round(float(ordered[0]), 3)}
    summary["mean"] = round(float(ordered.mean()), 3)
    for name, p in PERCENTILES.items():
        value = percentile(ordered, p)
        summary[name] = None if value is None else round(value, 3)
    summary["max"] = round(float(ordered[-1]), 3)
    return summary


def sustained_rate(observed: Observed) -> float:
    """Predictions per second arriving in the middle 80 % of the run (no ramp, no tail)."""
    arrived = observed.arrived_s[~np.isnan(observed.arrived_s)]
    if len(arrived) < 2:
        return 0.0
    start, end = float(observed.due_s[0]), float(arrived.max())
    span = end - start
    if span < 1.0:
        return round(len(arrived) / max(span, 1e-9), 1)
    low, high = start + 0.1 * span, start + 0.9 * span
    inside = np.count_nonzero((arrived >= low) & (arrived < high))
    return round(inside / (high - low), 1)


def summarise(
    observed: Observed,
    *,
    rate: float,
    late_threshold_ms: float,
    budget_p99_ms: float,
    lag_at_end: int | None,
) -> dict[str, Any]:
    """Every figure the report shows, the verdict and the reasons for it."""
    events = len(observed.due_s)
    sent = int(np.count_nonzero(~np.isnan(observed.sent_s)))
    lateness_ms = (observed.sent_s - observed.due_s) * 1000.0
    late = int(np.count_nonzero(lateness_ms > late_threshold_ms))
    got = ~np.isnan(observed.arrived_s)
    received = int(np.count_nonzero(got))
    dead = int(np.count_nonzero(observed.dead & ~got))
    missing = events - received - dead
    duplicates = int(np.maximum(observed.copies - 1, 0).sum())
    ordered = latency_ms(observed)
    latency = latency_summary(ordered)
    send_span = float(np.nanmax(observed.sent_s) - observed.due_s[0]) if sent else 0.0
    p99 = latency["p99"]
    reasons = []
    if received == 0:
        reasons.append("no prediction arrived: is the consumer running (make run)?")
    elif p99 is not None and p99 > budget_p99_ms:
        reasons.append(f"p99 {p99:.1f} ms exceeds the {budget_p99_ms:g} ms budget")
    if missing:
        reasons.append(f"{missing} of {events} events got no prediction")
    if dead:
        reasons.append(f"{dead} valid events went to the dead-letter topic")
    if lag_at_end:
        reasons.append(f"the group is {lag_at_end} events behind at the end")
    warnings = []
    if late > 0.05 * events:
        warnings.append(
            f"{late} of {events} sends left more than {late_threshold_ms:g} ms after their "
            "scheduled time: the load generator, not only the consumer, set the pace"
        )
    return {
        "events": events,
        "schedule": {
            "offered_rps": rate,
            "scheduled": events,
            "sent": sent,
            "late": late,
            "late_threshold_ms": late_threshold_ms,
            "rate_sent": round(sent / send_span, 1) if send_span > 0 else None,
        },
        "received": received,
        "missing": missing,
        "dead_lettered": dead,
        "duplicates": duplicates,
        "throughput": sustained_rate(observed),
        "latency_ms": latency,
        "lag_at_end": lag_at_end,
        "budget_p99_ms": budget_p99_ms,
        "ok": not reasons,
        "reasons": reasons,
        "warnings": warnings,
    }
