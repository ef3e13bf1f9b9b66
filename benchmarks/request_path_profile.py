"""A sampling profile of the generated service while it serves: where its core's time goes.

``py-spy`` samples the running server (no restart, no instrumentation; ``--nonblocking`` so
the server is never stopped to be read) while ``wrk`` loads it at 32 connections. Each
sample is put in one bucket by the innermost frame that a rule knows, so that the shares
add up to the whole; a sample whose stack no rule knows is "other".
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

SAMPLE_HZ = 400
# (bucket, substrings of a frame's file): the first bucket whose substring is in the frame,
# looking from the innermost frame outwards
RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("model (onnxruntime)", ("onnxruntime/",)),
    ("JSON decode", ("json/decoder.py",)),
    ("JSON encode", ("json/encoder.py",)),
    ("metrics (prometheus_client)", ("prometheus_client/", "serving/metrics.py", "web/metrics.py")),
    ("drift monitor", ("inference/drift.py",)),
    ("schema check", ("inference/schema.py",)),
    ("hand-off to the inference thread, micro-batcher",
     ("concurrent/futures/", "serving/batching.py", "threading.py", "asyncio/futures.py")),
    ("reply building", ("web/replies.py", "inference/predictor.py")),
    ("guard: admission, limits, request ids, drain",
     ("web/guard.py", "web/admission.py", "web/drain.py", "asyncio/timeouts.py")),
    ("routing, handler, engine", ("serving/",)),
    ("HTTP protocol and socket writes (uvicorn, httptools)", ("uvicorn/", "web/refusal.py")),
    ("event loop and socket reads (uvloop, native)", ("asyncio/", "uvloop")),
)  # fmt: skip


def bucket_of(stack: str) -> str:
    frames = stack.split(";")
    for frame in reversed(frames):
        for name, needles in RULES:
            if any(needle in frame for needle in needles):
                return name
    return "event loop and socket reads (uvloop, native)" if frames[-1] == "" else "other"


def shares(raw: str) -> dict[str, Any]:
    """Bucket shares of py-spy's raw (folded) output: one 'stack count' line per stack."""
    counts: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, number = line.rpartition(" ")
        if number.isdigit():
            counts[bucket_of(stack)] += int(number)
    total = sum(counts.values())
    return {
        "samples": total,
        "shares": {name: round(n / total, 3) for name, n in counts.most_common()} if total else {},
    }


def profile(pid: int, load: Any, seconds: float) -> dict[str, Any]:
    """Sample ``pid`` for ``seconds`` while ``load()`` runs; the bucket shares, or why none."""
    spy = shutil.which("py-spy")
    if spy is None:
        return {"error": "py-spy is not installed"}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "profile.txt"
        sampler = subprocess.Popen(
            ["taskset", "-c", "1", spy, "record", "--nonblocking", "--format", "raw",
             "--rate", str(SAMPLE_HZ), "--duration", f"{seconds:g}", "--pid", str(pid),
             "--output", str(out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        try:
            load()
        finally:
            _, errors = sampler.communicate(timeout=seconds + 60)
        if sampler.returncode != 0 or not out.exists():
            return {"error": f"py-spy failed: {errors.strip()[-300:]}"}
        return shares(out.read_text())
