"""``mlship spike --compare A B``: what changed between two saved runs.

A and B are run folders (``spikes/<timestamp>/``) or their ``result.json`` files. The
difference is B minus A; for latency and errors lower is better, for throughput higher.
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


def _metrics(result: SpikeResult) -> dict[str, tuple[float | None, bool]]:
    """name -> (value, higher is better)."""
    s = result.stats
    lat = s.latency_ms
    out: dict[str, tuple[float | None, bool]] = {
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
    return {
        "a": {"path": str(a), "started": ra.started, "verdict": ra.verdict},
        "b": {"path": str(b), "started": rb.started, "verdict": rb.verdict},
        "metrics": [asdict(c) for c in compare(ra, rb)],
    }
