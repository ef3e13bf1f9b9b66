"""Run one exported model as a device would: pinned threads, given rows per call.

    python edge_probe.py --model dist/model.onnx --threads 4 --rows 1,16 --seconds 2

Prints one JSON document: the file's size, the memory the model took (peak resident
size after the session ran, less the resident size before it was created), and per
call size the runs and their exact (nearest-rank) p50 and p99 in milliseconds. Each
case stops after ``--seconds`` or ``--max-runs``, whichever comes first.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import time
from typing import Any

WARMUP_RUNS = 10
MIN_RUNS = 20
TYPES = {"tensor(float)": "float32", "tensor(double)": "float64", "tensor(float16)": "float16"}
TYPES.update({"tensor(int64)": "int64", "tensor(int32)": "int32"})


def peak_mb() -> float:
    """The process's peak resident size so far (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def nearest_rank(ordered: list[float], p: float) -> float:
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rows", default="1")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--max-runs", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import numpy as np
    import onnxruntime as ort

    before = peak_mb()
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    first = session.get_inputs()[0]
    shape: list[Any] = list(first.shape)
    width = shape[1] if len(shape) == 2 and isinstance(shape[1], int) else None
    if width is None:
        print(json.dumps({"error": f"input {first.name} has shape {shape}: not [batch, n]"}))
        return 2
    dtype = TYPES.get(first.type, "float32")
    rng = np.random.default_rng(args.seed)
    cases = []
    for rows in (int(r) for r in args.rows.split(",") if r.strip()):
        batch = rng.standard_normal((rows, width)).astype(dtype)
        feed = {first.name: batch}
        for _ in range(WARMUP_RUNS):
            session.run(None, feed)
        samples: list[float] = []
        deadline = time.perf_counter() + args.seconds
        while len(samples) < args.max_runs and (
            len(samples) < MIN_RUNS or time.perf_counter() < deadline
        ):
            started = time.perf_counter()
            session.run(None, feed)
            samples.append((time.perf_counter() - started) * 1000.0)
        ordered = sorted(samples)
        cases.append(
            {
                "rows": rows,
                "runs": len(samples),
                "p50_ms": round(nearest_rank(ordered, 50), 4),
                "p99_ms": round(nearest_rank(ordered, 99), 4),
            }
        )
    result = {
        "model": args.model,
        "size_bytes": os.path.getsize(args.model),
        "threads": args.threads,
        "memory_mb": round(max(peak_mb() - before, 0.0), 2),
        "onnxruntime": ort.__version__,
        "cases": cases,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
