"""``mlship spike --compare A B``: what changed between two saved runs.

A and B are run folders (``spikes/<timestamp>/``) or their ``result.json`` files. The
difference is B minus A; for latency, errors, memory, size and lag lower is better, for
throughput higher. Both runs must be of the same kind of load (two batch runs, two
service runs, ...).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mlship.errors import InputError
from mlship.spike.result import SpikeResult
from mlship.validation import describe_validation_error


@dataclass(frozen=True)
class Change:
    name: str
    a: float | None
    b: float | None
    delta: float | None
    change_pct: float | None
    better: bool | None


def load_result(path: Path) -> SpikeResult:
    """A saved spike result, from its folder or its JSON file."""
    file = path / "result.json" if path.is_dir() else path
    if not file.is_file():
        raise InputError(f"--compare: {path} is neither a spike run folder nor its result.json")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(f"--compare: cannot read {file} ({error})") from None
    try:
        return SpikeResult.model_validate(data)
    except ValidationError as error:
        raise InputError(
            f"--compare: {file} is not a spike result", problems=describe_validation_error(error)
        ) from None


Metrics = dict[str, tuple[float | None, bool]]
KINDS = {
    "service": "a service",
    "job": "a batch job",
    "consumer": "a streaming consumer",
    "export": "an edge export",
}


def _stats_metrics(result: SpikeResult) -> Metrics:
    s = result.stats
    if s is None:
        return {}
    lat = s.latency_ms
    out: Metrics = {
        "requests": (float(s.requests), True),
        "rps": (s.rps, True),
        "ok_rps": (s.ok_rps, True),
        "sustained_rps": (s.sustained_rps, True),
        "p50_ms": (lat.p50, False),
        "p90_ms": (lat.p90, False),
        "p95_ms": (lat.p95, False),
        "p99_ms": (lat.p99, False),
        "p99_9_ms": (lat.p99_9, False),
        "max_ms": (lat.max, False),
        "error_rate": (s.error_rate, False),
    }
    if result.stream is not None:
        st = result.stream
        out["dlq_rate"] = (st.dlq_rate, False)
        out["missing"] = (float(st.missing), False)
        out["end_lag"] = (None if st.end_lag is None else float(st.end_lag), False)
    return out


def _batch_metrics(result: SpikeResult) -> Metrics:
    b = result.batch
    if b is None:
        return {}
    return {
        "rows": (float(b.rows), True),
        "rows_per_s": (b.rows_per_s, True),
        "wall_rows_per_s": (b.wall_rows_per_s, True),
        "job_seconds": (b.job_seconds, False),
        "peak_memory_mb": (b.peak_memory_mb, False),
        "reject_rate": (b.reject_rate, False),
        "error_rate": (b.error_rate, False),
    }


def _edge_metrics(result: SpikeResult) -> Metrics:
    e = result.edge
    if e is None:
        return {}
    out: Metrics = {}
    for v in e.variants:
        out[f"{v.name}.size_mb"] = (v.size_mb, False)
        out[f"{v.name}.memory_mb"] = (v.memory_mb, False)
        for c in v.cases:
            out[f"{v.name}.rows{c.rows}.device_p99_ms"] = (c.device_p99_ms, False)
    return out


def _metrics(result: SpikeResult) -> Metrics:
    """name -> (value, higher is better)."""
    out = {**_stats_metrics(result), **_batch_metrics(result), **_edge_metrics(result)}
    if result.capacity is not None:
        out["sustainable_rps"] = (result.capacity.sustainable_rps, True)
    return out


def compare(a: SpikeResult, b: SpikeResult) -> list[Change]:
    ma, mb = _metrics(a), _metrics(b)
    changes = []
    for name, (va, higher_better) in ma.items():
        vb = mb.get(name, (None, higher_better))[0]
        if va is None or vb is None:
            changes.append(Change(name, va, vb, None, None, None))
            continue
        delta = vb - va
        pct = round(delta / va * 100.0, 2) if va else None
        better = None if delta == 0 else (delta > 0) == higher_better
        changes.append(Change(name, va, vb, round(delta, 6), pct, better))
    return changes


def compare_paths(a: Path, b: Path) -> dict[str, Any]:
    """The comparison as data (the ``--compare --json`` contract)."""
    ra, rb = load_result(a), load_result(b)
    if ra.kind != rb.kind:
        raise InputError(
            f"--compare: {a} is a run of {KINDS[ra.kind]} and {b} of {KINDS[rb.kind]}; "
            "compare runs of the same kind of load"
        )
    return {
        "kind": ra.kind,
        "a": {"path": str(a), "started": ra.started, "verdict": ra.verdict},
        "b": {"path": str(b), "started": rb.started, "verdict": rb.verdict},
        "metrics": [asdict(c) for c in compare(ra, rb)],
    }
