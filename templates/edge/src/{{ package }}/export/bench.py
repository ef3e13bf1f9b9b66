"""Time every artifact alike: same rows, same pinned threads, warm-up, interleaved rounds.

Latency is measured for one row (an app scoring what the user just did) and for a batch
(a gallery, a queue drained at once). Every case is timed in ``rounds`` short rounds that
take turns across the artifacts, so a burst of load on the machine slows all of them
alike instead of one; the per-round ratios against fp32 give the spread that the report
states next to each ratio. Each round stops at a time slice or a run cap, whichever comes
first, so the benchmark cannot run away on a slow machine.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnxruntime as ort

from .config import BenchmarkConfig

MIN_RUNS_PER_ROUND = 5
MIN_WARMUP_RUNS = 20

Call = Callable[[], object]


@dataclass
class Case:
    """One artifact's two calls (single row, batch) and how long it took to load."""

    name: str
    single: Call
    batch: Call
    load_ms: float
    size_bytes: int
    samples: dict[str, list[list[float]]] = field(
        default_factory=lambda: {"single": [], "batch": []}
    )


def machine() -> dict[str, Any]:
    """What the numbers were measured on, stated next to them."""
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "onnxruntime": ort.__version__,
    }


def load_time_ms(load: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        load()
        times.append((time.perf_counter() - started) * 1000)
    return float(np.median(times))


def _warm(call: Call, seconds: float) -> None:
    deadline = time.perf_counter() + seconds
    runs = 0
    while runs < MIN_WARMUP_RUNS or time.perf_counter() < deadline:
        call()
        runs += 1


def _round(call: Call, seconds: float, cap: int) -> list[float]:
    samples: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(samples) < cap and (
        len(samples) < MIN_RUNS_PER_ROUND or time.perf_counter() < deadline
    ):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


def run_cases(cases: list[Case], config: BenchmarkConfig) -> None:
    """Warm every case, then time them round by round, taking turns."""
    for case in cases:
        _warm(case.single, config.warmup_seconds)
        _warm(case.batch, config.warmup_seconds)
    slice_s = config.seconds_per_case / config.rounds
    cap = max(MIN_RUNS_PER_ROUND, config.max_runs // config.rounds)
    for _ in range(config.rounds):
        for case in cases:
            case.samples["single"].append(_round(case.single, slice_s, cap))
            case.samples["batch"].append(_round(case.batch, slice_s, cap))


def timing(rounds: list[list[float]], rows: int) -> dict[str, Any]:
    pooled = np.concatenate([np.asarray(r) for r in rounds]) * 1000
    return {
        "rows": rows,
        "runs": len(pooled),
        "rounds": len(rounds),
        "p50_ms": float(np.percentile(pooled, 50)),
        "p99_ms": float(np.percentile(pooled, 99)),
        "rows_per_s": float(rows / (np.median(pooled) / 1000)),
        "round_p50_ms": [float(np.median(r) * 1000) for r in rounds],
    }


def results(case: Case, batch_rows: int, threads: int) -> dict[str, Any]:
    return {
        "size_bytes": case.size_bytes,
        "load_ms": case.load_ms,
        "single": timing(case.samples["single"], 1),
        "batch": timing(case.samples["batch"], batch_rows),
        "threads": threads,
    }


def ratio_spread(base: list[float], mine: list[float]) -> dict[str, float]:
    """Per-round speed-ups (base / mine) and how far they stray from their median."""
    per_round = [b / m for b, m in zip(base, mine, strict=True) if m > 0]
    middle = float(np.median(per_round))
    return {
        "median": middle,
        "min": float(min(per_round)),
        "max": float(max(per_round)),
        "spread": float((max(per_round) - min(per_round)) / middle) if middle else 0.0,
    }


def batch_rows(x: np.ndarray, size: int) -> np.ndarray:
    """``size`` rows cycled from the sample (repeating it when it is shorter)."""
    repeats = -(-size // len(x))
    return np.ascontiguousarray(np.tile(x, (repeats, 1))[:size], dtype=np.float32)
