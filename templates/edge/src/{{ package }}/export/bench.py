"""Time each variant alike: same rows, same pinned threads, warm-up, bounded runs.

Latency is measured for one row (an app scoring what the user just did) and for a batch
(a gallery, a queue drained at once). Each case stops after a time budget or a run cap,
whichever comes first, so the benchmark cannot run away on a slow machine.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from .config import BenchmarkConfig
from .ort_session import open_session

WARMUP_RUNS = 10


@dataclass
class Timing:
    rows: int
    runs: int
    p50_ms: float
    p99_ms: float
    rows_per_s: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "runs": self.runs,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "rows_per_s": self.rows_per_s,
        }


def machine() -> dict[str, Any]:
    """What the numbers were measured on, stated next to them."""
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "onnxruntime": ort.__version__,
    }


def load_time_ms(path: Path, config: BenchmarkConfig) -> float:
    times = []
    for _ in range(config.load_repeats):
        started = time.perf_counter()
        open_session(path, config.threads)
        times.append((time.perf_counter() - started) * 1000)
    return float(np.median(times))


def time_case(path: Path, rows: np.ndarray, config: BenchmarkConfig) -> Timing:
    session = open_session(path, config.threads)
    name = session.get_inputs()[0].name
    feed = {name: np.ascontiguousarray(rows, dtype=np.float32)}
    for _ in range(WARMUP_RUNS):
        session.run(None, feed)
    samples: list[float] = []
    deadline = time.perf_counter() + config.seconds_per_case
    while len(samples) < config.max_runs and (len(samples) < 10 or time.perf_counter() < deadline):
        started = time.perf_counter()
        session.run(None, feed)
        samples.append(time.perf_counter() - started)
    latencies = np.array(samples) * 1000
    return Timing(
        rows=len(rows),
        runs=len(samples),
        p50_ms=float(np.percentile(latencies, 50)),
        p99_ms=float(np.percentile(latencies, 99)),
        rows_per_s=float(len(rows) / np.median(samples)),
    )


def batch_rows(x: np.ndarray, size: int) -> np.ndarray:
    """``size`` rows cycled from the sample (repeating it when it is shorter)."""
    repeats = -(-size // len(x))
    return np.tile(x, (repeats, 1))[:size]


def benchmark(path: Path, x: np.ndarray, config: BenchmarkConfig) -> dict[str, Any]:
    return {
        "size_bytes": path.stat().st_size,
        "load_ms": load_time_ms(path, config),
        "single": time_case(path, x[:1], config).as_dict(),
        "batch": time_case(path, batch_rows(x, config.batch_size), config).as_dict(),
        "threads": config.threads,
    }
