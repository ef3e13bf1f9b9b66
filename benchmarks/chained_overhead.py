"""The chained executor's own cost per stage, measured inside the generated project.

Run with the project's interpreter: ``python chained_overhead.py PACKAGE PROJECT_DIR RUNS
BUDGET_MS``; prints JSON. The same three model calls are made directly and through the
executor in one process, sequential requests, median of ``RUNS``.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any


def main() -> None:
    package, folder, runs, budget_ms = (
        sys.argv[1],
        Path(sys.argv[2]),
        int(sys.argv[3]),
        float(sys.argv[4]),
    )
    from prometheus_client import CollectorRegistry

    build = importlib.import_module(f"{package}.pipeline.build")
    metrics = importlib.import_module(f"{package}.pipeline.metrics")
    settings_mod = importlib.import_module(f"{package}.pipeline.settings")
    corpus = importlib.import_module(f"{package}.pipeline.corpus")
    texts = [e.text for e in corpus.generate(500, 11, held_out=True)]
    settings = settings_mod.PipelineSettings(
        pipeline_file=folder / "pipeline.yaml",
        models_dir=folder / "models",
        device="cpu",
        log_json=False,
        latency_budget_ms=budget_ms,
    )
    pipeline = build.build_pipeline(settings, metrics.Metrics(100, CollectorRegistry()))
    order = pipeline.executor.order
    stages = pipeline.stages

    def direct(text: str) -> None:
        outputs: dict[str, list[Any]] = {}
        for name in order:
            bound = stages[name]
            rows, context = bound.adapter.rows([text], outputs)
            outputs[name] = bound.adapter.decode(bound.stage.predictor.run(rows), context)

    async def measure() -> tuple[list[float], list[float]]:
        plain, executed = [], []
        for i in range(runs):
            text = texts[i % len(texts)]
            started = time.perf_counter()
            direct(text)
            plain.append(time.perf_counter() - started)
            started = time.perf_counter()
            await pipeline.executor.run([text], time.monotonic() + 1.0, "bench")
            executed.append(time.perf_counter() - started)
        return plain, executed

    plain, executed = asyncio.run(measure())
    pipeline.pool.shutdown(wait=True)
    direct_us = statistics.median(plain) * 1e6
    executor_us = statistics.median(executed) * 1e6
    print(
        json.dumps(
            {
                "stages": len(order),
                "direct_us": round(direct_us, 1),
                "executor_us": round(executor_us, 1),
                "overhead_per_stage_us": round((executor_us - direct_us) / len(order), 1),
                "texts": texts,
            }
        )
    )


if __name__ == "__main__":
    main()
