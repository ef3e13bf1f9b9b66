"""Load test of the pipeline, judged against the budget in ``mlship.yaml``.

Utterances come from the project's own corpus generator (held-out slot values), so they look
like real traffic. A request fails on a non-200 answer or a prediction count that does not
match; answers where a stage used its fallback count as degraded and are reported. At the
end the run is marked failed (exit code 1) when the p99 or the failure ratio is over budget.

    locust -f loadtest/locustfile.py --headless -u 16 -r 8 -t 30s --host http://127.0.0.1:8000

Environment: LOADTEST_BUDGET points at another decision record, LOADTEST_MAX_ROWS bounds the
instances per request (default 4), LOADTEST_MAX_SECONDS stops a run started without ``-t``
(default 300), LOADTEST_SEED makes the payloads reproducible.
"""

from __future__ import annotations

import importlib
import logging
import os
import random
from collections import Counter
from pathlib import Path
from typing import Any

import gevent
import yaml
from locust import FastHttpUser, between, events, task
from locust.env import Environment
from locust.runners import STATE_STOPPED, STATE_STOPPING, WorkerRunner

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = next(p.parent.name for p in sorted((ROOT / "src").glob("*/__init__.py")))
BUDGET_FILE = Path(os.environ.get("LOADTEST_BUDGET", ROOT / "mlship.yaml"))
MAX_ROWS = max(1, int(os.environ.get("LOADTEST_MAX_ROWS", "4")))
MAX_SECONDS = float(os.environ.get("LOADTEST_MAX_SECONDS", "300"))
DEFAULT_MAX_ERROR_RATE = 0.001

log = logging.getLogger("loadtest")
seed = int(os.environ.get("LOADTEST_SEED", random.randrange(1 << 30)))
rng = random.Random(seed)
corpus = importlib.import_module(f"{PACKAGE}.pipeline.corpus")
TEXTS = [example.text for example in corpus.generate(2000, seed, held_out=True)]
degraded: Counter[str] = Counter()


def load_budget() -> tuple[float | None, float]:
    """(p99 in ms or None, max error rate) from the decision record, if there is one."""
    if not BUDGET_FILE.is_file():
        log.warning("%s not found: judging the failure ratio only", BUDGET_FILE)
        return None, DEFAULT_MAX_ERROR_RATE
    record = yaml.safe_load(BUDGET_FILE.read_text(encoding="utf-8")) or {}
    budget = record.get("budget") or {}
    p99 = budget.get("p99_ms")
    rate = budget.get("max_error_rate")
    return (
        float(p99) if p99 is not None else None,
        float(rate) if rate is not None else DEFAULT_MAX_ERROR_RATE,
    )


P99_MS, MAX_ERROR_RATE = load_budget()


class PipelineUser(FastHttpUser):
    host = os.environ.get("LOADTEST_HOST", "http://127.0.0.1:8000")
    wait_time = between(0.01, 0.05)

    @task
    def predict(self) -> None:
        count = 1 if rng.random() < 0.7 else rng.randint(1, MAX_ROWS)
        body = {"instances": [{"text": rng.choice(TEXTS)} for _ in range(count)]}
        with self.client.post(
            "/v1/predict", json=body, name="/v1/predict", catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}: {response.text[:200]}")
                return
            try:
                answer = response.json()
                got = len(answer["predictions"])
                stages = answer["stages"]
            except (ValueError, KeyError, TypeError):
                response.failure(f"unexpected body: {response.text[:200]}")
                return
            if got != count:
                response.failure(f"sent {count} instances, got {got} predictions")
                return
            for name, stage in stages.items():
                if stage.get("status") != "ok":
                    degraded[f"{name}:{stage.get('status')}"] += 1
            response.success()


def stop_unbounded_runs(environment: Environment, **_: Any) -> None:
    """A run started without ``-t`` still ends, after LOADTEST_MAX_SECONDS."""
    runner = environment.runner
    if runner is None or isinstance(runner, WorkerRunner):
        return

    def stop() -> None:
        if runner.state not in (STATE_STOPPING, STATE_STOPPED):
            log.warning("stopping the run after %.0f s (LOADTEST_MAX_SECONDS)", MAX_SECONDS)
            runner.quit()

    gevent.spawn_later(MAX_SECONDS, stop)


def judge(environment: Environment, **_: Any) -> None:
    """Set the exit code from the budget: CI fails when the pipeline is too slow or fails."""
    if isinstance(environment.runner, WorkerRunner):
        return
    total = environment.stats.total
    problems = []
    if total.num_requests == 0:
        problems.append("no request was sent")
    if total.fail_ratio > MAX_ERROR_RATE:
        problems.append(f"failure ratio {total.fail_ratio:.4%} > budget {MAX_ERROR_RATE:.4%}")
    p99 = total.get_response_time_percentile(0.99) or 0.0
    if P99_MS is not None and p99 > P99_MS:
        problems.append(f"p99 {p99:.0f} ms > budget {P99_MS:g} ms")
    summary = (
        f"{total.num_requests} requests, {total.total_rps:.1f} req/s, "
        f"p99 {p99:.0f} ms, failures {total.fail_ratio:.4%}, "
        f"degraded stages {dict(degraded) or 'none'}"
    )
    if problems:
        log.error("over budget: %s (%s)", "; ".join(problems), summary)
        environment.process_exit_code = 1
    else:
        log.info("within budget: %s", summary)
        environment.process_exit_code = 0


# locust's EventHook is untyped, hence the ignores.
events.test_start.add_listener(stop_unbounded_runs)  # type: ignore[no-untyped-call]
events.quitting.add_listener(judge)  # type: ignore[no-untyped-call]
