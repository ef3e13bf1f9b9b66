"""Spike reports for ``mlship check`` tests, made and written by spike's own code.

The figures come from spike's statistics (``stats.summarize`` over raw records), its
verdict functions judge them, and ``artifacts.save`` writes ``result.json``, the Markdown
and the HTML into ``spikes/<stamp>/`` as a real run does; only the measuring is skipped
(a real run of every pattern needs an installed project, a broker, minutes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlship.spike import artifacts, verdict
from mlship.spike.batch_spike import _criteria as batch_criteria
from mlship.spike.records import Record
from mlship.spike.result import (
    BatchStats,
    BudgetUsed,
    Criterion,
    EdgeCase,
    EdgeStats,
    EdgeVariant,
    Profile,
    SpikeResult,
    Stats,
    StreamStats,
    Target,
)
from mlship.spike.stats import summarize


def started(stamp: str) -> str:
    """``20260301T100000Z`` -> ``2026-03-01T10:00:00+00:00`` (what new_run_dir records)."""
    return f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}T{stamp[9:11]}:{stamp[11:13]}:00+00:00"


def requests(p99: float, error_rate: float = 0.0, rps: float = 50.0, n: int = 1000) -> Stats:
    """Figures of ``n`` requests: every good one answered in ``p99`` ms, the rest 500s."""
    bad = round(error_rate * n)
    records = [
        Record(
            t=1000.0 + i / rps,
            latency_ms=p99 if i >= bad else 1.0,
            outcome="200" if i >= bad else "500",
            valid=True,
            late=False,
        )
        for i in range(n)
    ]
    figures = summarize(
        records, offered_rps=rps, late_threshold_ms=20, max_outstanding=10, invalid_share=0.0
    )
    return figures.model_copy(update={"sustained_rps": rps})


def _budget(kind: str, **limits: Any) -> BudgetUsed:
    fields = {"p99_ms": None, "max_error_rate": None, "min_rps": None, **limits}
    return BudgetUsed(**fields, unit=verdict.UNITS[kind], source={})


def _result(kind: str, pattern: str, stamp: str, budget: BudgetUsed, **parts: Any) -> SpikeResult:
    criteria: list[Criterion] = parts.pop("criteria", [])
    return SpikeResult(
        started=started(stamp),
        pattern=pattern,
        kind=kind,
        interrupted=parts.pop("interrupted", False),
        target=Target(url=None, path=None, project="p", started_by_spike=True),
        profile=Profile(kind="rows" if kind == "job" else "open", description="test load"),
        stats=parts.pop("stats", None),
        capacity=None,
        budget=budget,
        verdict=verdict.overall(criteria),
        criteria=criteria,
        notes=[],
        artifacts={},
        **parts,
    )


def service(
    pattern: str, stamp: str, p99: float, error_rate: float = 0.0, rps: float = 50.0, **kw: Any
) -> SpikeResult:
    """An online or chained spike, judged by spike against a 100 ms, 0.1 % budget."""
    figures = requests(p99, error_rate, rps)
    budget = _budget("service", p99_ms=100.0, max_error_rate=0.001)
    _, criteria = verdict.judge(figures, budget)
    return _result("service", pattern, stamp, budget, stats=figures, criteria=criteria, **kw)


def stream(stamp: str, p99: float, end_lag: int = 0, **kw: Any) -> SpikeResult:
    """A streaming spike: events end to end, and the lag the consumer left."""
    figures = requests(p99, rps=200.0)
    budget = _budget("consumer", p99_ms=1000.0, max_error_rate=0.001, max_lag=0)
    _, criteria = verdict.judge(figures, budget)
    criteria.append(
        verdict.check_at_most("max_lag", float(end_lag), 0.0, "lag", "events", "no lag")
    )
    st = StreamStats(
        bootstrap="127.0.0.1:9092",
        input_topic="in",
        output_topic="out",
        dlq_topic="dlq",
        produced=figures.requests,
        predictions=figures.ok,
        duplicates=0,
        dead_lettered=0,
        missing=0,
        dlq_rate=0.0,
        end_lag=end_lag,
        lag_detail="read from the consumer group",
        broker_started_by_spike=True,
    )
    return _result(
        "consumer", "streaming", stamp, budget, stats=figures, stream=st, criteria=criteria, **kw
    )


def batch(
    stamp: str, rows_per_s: float, peak_memory_mb: float, rejected_beyond: int = 0, **kw: Any
) -> SpikeResult:
    """A batch spike: 20 000 rows (20 planted bad), a 60 min window."""
    rows, planted = 20_000, 20
    seconds = rows / rows_per_s
    figures = BatchStats(
        rows=rows,
        scored=rows - planted - rejected_beyond,
        rejected=planted + rejected_beyond,
        reject_rate=(planted + rejected_beyond) / rows,
        planted_bad=planted,
        unexpected_rejects=rejected_beyond,
        error_rate=rejected_beyond / rows,
        job_seconds=round(seconds, 3),
        wall_seconds=round(seconds + 2, 3),
        rows_per_s=rows_per_s,
        wall_rows_per_s=round(rows / (seconds + 2), 1),
        peak_memory_mb=peak_memory_mb,
        memory_measure="pss",
        processes=2,
        exit_code=0,
        status="done",
        parts=[],
        timeseries=[],
        projected_run_s=round(1_000_000 / rows_per_s, 1),
        window_s=3600.0,
    )
    budget = _budget("job", max_error_rate=0.001, max_memory_mb=4096.0, min_rps=278.0)
    criteria = batch_criteria(figures, budget)
    return _result("job", "batch", stamp, budget, batch=figures, criteria=criteria, **kw)


def edge(stamp: str, host_p99: float, size_mb: float = 0.05, **kw: Any) -> SpikeResult:
    """An edge spike: the fp32 variant shipped, int8 beside it, on a 3x slower phone."""
    factor = 3.0

    def variant(name: str, p99: float, shipped: bool) -> EdgeVariant:
        cases = [
            EdgeCase(rows=rows, runs=200, p50_ms=p99 / 2, p99_ms=p99, device_p99_ms=p99 * factor)
            for rows in (1, 16)
        ]
        budget = _budget("export", p99_ms=50.0)
        crit = [verdict.check_at_most("p99_ms", p99 * factor, 50.0, "p99", "ms", "none")]
        return EdgeVariant(
            name=name,
            file=f"export/model-{name}.onnx",
            shipped=shipped,
            size_mb=size_mb,
            memory_mb=12.0,
            cases=cases,
            verdict=verdict.overall(crit) if budget.p99_ms else None,
            criteria=crit,
        )

    shipped = variant("fp32", host_p99, True)
    figures = EdgeStats(
        target="mobile",
        threads=4,
        device_factor=factor,
        factor_source="knowledge base spike.devices.mobile.factor",
        latency="estimated",
        shipped="fp32",
        exported=None,
        variants=[shipped, variant("int8", host_p99 / 10, False)],
    )
    return _result(
        "export",
        "edge",
        stamp,
        _budget("export", p99_ms=50.0),
        edge=figures,
        criteria=shipped.criteria,
        **kw,
    )


def save(project: Path, stamp: str, result: SpikeResult) -> str:
    """Write the report as spike does; its path relative to the project."""
    run_dir = project / "spikes" / stamp
    run_dir.mkdir(parents=True)
    artifacts.save(result, run_dir)
    return f"spikes/{stamp}/result.json"
