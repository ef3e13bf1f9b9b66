"""Figures from raw records: exact percentiles, errors by kind, per-second series.

Percentiles use the nearest-rank definition on every measured latency (no buckets, no
interpolation): p99 is the smallest latency that at least 99 % of requests did not
exceed. Dropped sends have no latency; they count as errors, never as fast requests.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from mlship.spike.records import Record
from mlship.spike.result import Histogram, InvalidShare, Latency, Schedule, Second, Stats

PERCENTILES = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p99_9": 99.9}


def percentile(ordered: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending sequence; None when it is empty."""
    if not ordered:
        return None
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def latency_summary(values: Iterable[float]) -> Latency:
    ordered = sorted(values)
    if not ordered:
        return Latency(
            min=None, mean=None, p50=None, p90=None, p95=None, p99=None, p99_9=None, max=None
        )
    picks = {name: percentile(ordered, p) for name, p in PERCENTILES.items()}
    return Latency(
        min=round(ordered[0], 3),
        mean=round(sum(ordered) / len(ordered), 3),
        max=round(ordered[-1], 3),
        **{k: round(v, 3) if v is not None else None for k, v in picks.items()},
    )


def histogram(values: Sequence[float], bins_per_decade: int = 20) -> Histogram:
    """Counts on log-spaced bins that cover every value (latency spans decades)."""
    positive = [max(v, 0.001) for v in values]
    if not positive:
        return Histogram(edges_ms=[], counts=[])
    low = math.floor(math.log10(min(positive)) * bins_per_decade)
    high = math.floor(math.log10(max(positive)) * bins_per_decade) + 1
    counts = [0] * (high - low)
    for v in positive:
        index = math.floor(math.log10(v) * bins_per_decade) - low
        counts[min(max(index, 0), len(counts) - 1)] += 1
    edges = [round(10 ** ((low + i) / bins_per_decade), 4) for i in range(high - low + 1)]
    return Histogram(edges_ms=edges, counts=counts)


def timeseries(records: Sequence[Record], start: float) -> list[Second]:
    """Per-second latency (by due time) and throughput (by completion time)."""
    by_second: dict[int, list[Record]] = defaultdict(list)
    completed: Counter[int] = Counter()
    for r in records:
        by_second[int(r.t - start)].append(r)
        if r.latency_ms is not None and r.ok:
            completed[int(r.t - start + r.latency_ms / 1000.0)] += 1
    last = max([*by_second, *completed], default=-1)
    series = []
    for second in range(last + 1):
        bucket = by_second.get(second, [])
        ordered = sorted(r.latency_ms for r in bucket if r.latency_ms is not None)
        series.append(
            Second(
                t=second,
                sent=len(bucket),
                completed=completed.get(second, 0),
                errors=sum(1 for r in bucket if not r.ok),
                p50=_round(percentile(ordered, 50)),
                p90=_round(percentile(ordered, 90)),
                p99=_round(percentile(ordered, 99)),
                max=_round(ordered[-1] if ordered else None),
            )
        )
    return series


def sustained(records: Sequence[Record], start: float, fallback: float) -> float:
    """Successful completions per second in the middle 80 % of the sending span.

    Dividing a count by the run's whole span understates a service that kept up (the
    span includes the ramp-up and the last responses' latency); the middle of the run
    does not. Runs shorter than a second fall back to ``fallback``.
    """
    span = max(r.t for r in records) - start
    if span < 1.0:
        return fallback
    low, high = start + 0.1 * span, start + 0.9 * span
    done = 0
    for r in records:
        if r.latency_ms is not None and r.ok and low <= r.t + r.latency_ms / 1000.0 < high:
            done += 1
    return done / (high - low)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def summarize(
    records: Sequence[Record],
    *,
    offered_rps: float | None,
    late_threshold_ms: float,
    max_outstanding: int,
    invalid_share: float,
) -> Stats:
    """Every figure a report shows, from the raw records of one run."""
    if not records:
        raise ValueError("no requests were recorded")
    start = min(r.t for r in records)
    ends = [r.t + r.latency_ms / 1000.0 for r in records if r.latency_ms is not None]
    end = max([*ends, max(r.t for r in records)])
    duration = max(end - start, 1e-9)
    errors = Counter(kind for r in records if (kind := r.error_kind) is not None)
    n_errors = sum(errors.values())
    ok = len(records) - n_errors
    # The budget is about real predictions: with an invalid share, latency is judged on
    # the valid bodies only (the invalid ones are reported separately below).
    latencies = [r.latency_ms for r in records if r.latency_ms is not None and r.valid]
    schedule = None
    if offered_rps is not None:
        schedule = Schedule(
            offered_rps=offered_rps,
            scheduled=len(records),
            late=sum(1 for r in records if r.late),
            dropped=sum(1 for r in records if r.outcome == "dropped"),
            late_threshold_ms=late_threshold_ms,
            max_outstanding=max_outstanding,
        )
    invalid = None
    if invalid_share > 0:
        bad = [r for r in records if not r.valid]
        codes = [r.status for r in bad]
        invalid = InvalidShare(
            share=invalid_share,
            sent=len(bad),
            rejected_4xx=sum(1 for c in codes if c is not None and 400 <= c < 500),
            accepted_2xx=sum(1 for c in codes if c is not None and 200 <= c < 300),
            server_errors_5xx=sum(1 for c in codes if c is not None and c >= 500),
            other_errors=sum(1 for c in codes if c is None),
        )
    series = timeseries(records, start)
    ok_rps = round(ok / duration, 3)
    return Stats(
        requests=len(records),
        ok=ok,
        errors=n_errors,
        error_rate=round(n_errors / len(records), 6),
        duration_s=round(duration, 3),
        rps=round(len(records) / duration, 3),
        ok_rps=ok_rps,
        sustained_rps=round(sustained(records, start, ok_rps), 3),
        latency_ms=latency_summary(latencies),
        errors_by_kind=dict(errors.most_common()),
        schedule=schedule,
        invalid=invalid,
        timeseries=series,
        histogram=histogram(latencies),
    )


class LiveStats:
    """Running figures for the progress view while the records still arrive."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.requests = 0
        self.errors = 0
        self.first: float | None = None

    def add(self, records: Iterable[Record]) -> None:
        for r in records:
            self.requests += 1
            self.first = r.t if self.first is None else min(self.first, r.t)
            if r.error_kind is not None:
                self.errors += 1
            if r.latency_ms is not None:
                self.latencies.append(r.latency_ms)

    def snapshot(self, now: float) -> dict[str, float | int | None]:
        self.latencies.sort()
        elapsed = now - self.first if self.first is not None else 0.0
        return {
            "requests": self.requests,
            "errors": self.errors,
            "rps": round(self.requests / elapsed, 1) if elapsed > 0.5 else None,
            "p50": percentile(self.latencies, 50),
            "p99": percentile(self.latencies, 99),
        }
