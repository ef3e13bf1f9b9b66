"""Load test of the prediction endpoints, judged against the budget in ``mlship.yaml``.

Payloads are built from the input schema in ``models/manifest.json`` (feature count and
names), so the test follows the model without edits. At the end the run is marked failed
(exit code 1) when the client-side p99 or the failure ratio is over the budget.

    locust -f loadtest/locustfile.py --headless -u 16 -r 8 -t 30s --host http://127.0.0.1:8000

Environment: LOADTEST_MANIFEST and LOADTEST_BUDGET point at other files, LOADTEST_MAX_ROWS
bounds the rows per request (default 8), LOADTEST_MAX_SECONDS stops a run started without
``-t`` (default 300), LOADTEST_SEED makes the payloads reproducible.
"""

from __future__ import annotations

import json
import logging
import os
import random
from pathlib import Path
from typing import Any

import gevent
import yaml
from locust import FastHttpUser, between, events, task
from locust.env import Environment
from locust.runners import STATE_STOPPED, STATE_STOPPING, WorkerRunner

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = Path(os.environ.get("LOADTEST_MANIFEST", ROOT / "models" / "manifest.json"))
BUDGET_FILE = Path(os.environ.get("LOADTEST_BUDGET", ROOT / "mlship.yaml"))
MAX_ROWS = max(1, int(os.environ.get("LOADTEST_MAX_ROWS", "8")))
MAX_SECONDS = float(os.environ.get("LOADTEST_MAX_SECONDS", "300"))
DEFAULT_MAX_ERROR_RATE = 0.001

log = logging.getLogger("loadtest")
rng = random.Random(os.environ.get("LOADTEST_SEED"))


class Schema:
    """What a valid request looks like for the model in the manifest."""

    def __init__(self, manifest: dict[str, Any]) -> None:
        spec = manifest["input"]
        features = spec.get("features")
        shape = spec.get("shape") or []
        width = shape[-1] if len(shape) == 2 and isinstance(shape[-1], int) else None
        if features:
            self.features: list[str] | None = [str(name) for name in features]
            self.width = len(self.features)
        elif width:
            self.features = None
            self.width = width
        else:
            raise SystemExit(f"{MANIFEST}: input has neither feature names nor a fixed width")
        self.model = str(manifest["name"])
        self.input_name = str(spec.get("name") or "input")
        # A fixed scale per feature, so that rows differ from each other in a stable way.
        self.scales = [10 ** rng.uniform(-1, 3) for _ in range(self.width)]

    def row(self) -> list[float]:
        return [round(abs(rng.gauss(1.0, 0.3)) * scale, 4) for scale in self.scales]

    def rows(self) -> list[list[float]]:
        count = 1 if rng.random() < 0.7 else rng.randint(2, MAX_ROWS) if MAX_ROWS > 1 else 1
        return [self.row() for _ in range(count)]


def load_schema() -> Schema:
    try:
        manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SystemExit(f"{MANIFEST} not found: run `make model` first") from None
    return Schema(manifest)


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


SCHEMA = load_schema()
P99_MS, MAX_ERROR_RATE = load_budget()


class ModelUser(FastHttpUser):
    """One client sending a mix of the request forms the service accepts."""

    host = os.environ.get("LOADTEST_HOST", "http://127.0.0.1:8000")
    wait_time = between(0.01, 0.05)

    def _check(self, response: Any, rows: int, key: str) -> None:
        if response.status_code != 200:
            response.failure(f"HTTP {response.status_code}: {response.text[:200]}")
            return
        try:
            body = response.json()
            got = len(body[key]) if key == "predictions" else body["outputs"][0]["shape"][0]
        except (ValueError, KeyError, IndexError, TypeError):
            response.failure(f"unexpected body: {response.text[:200]}")
            return
        if got != rows:
            response.failure(f"sent {rows} rows, got {got} predictions")
        else:
            response.success()

    @task(6)
    def predict_rows(self) -> None:
        rows = SCHEMA.rows()
        with self.client.post(
            "/v1/predict", json={"instances": rows}, name="/v1/predict", catch_response=True
        ) as response:
            self._check(response, len(rows), "predictions")

    @task(2)
    def predict_records(self) -> None:
        if SCHEMA.features is None:
            self.predict_rows()
            return
        rows = SCHEMA.rows()
        records = [dict(zip(SCHEMA.features, row, strict=True)) for row in rows]
        with self.client.post(
            "/v1/predict", json={"instances": records}, name="/v1/predict", catch_response=True
        ) as response:
            self._check(response, len(rows), "predictions")

    @task(2)
    def infer_v2(self) -> None:
        rows = SCHEMA.rows()
        request = {
            "inputs": [
                {
                    "name": SCHEMA.input_name,
                    "shape": [len(rows), SCHEMA.width],
                    "datatype": "FP32",
                    "data": [value for row in rows for value in row],
                }
            ]
        }
        path = f"/v2/models/{SCHEMA.model}/infer"
        with self.client.post(
            path, json=request, name="/v2/models/[name]/infer", catch_response=True
        ) as response:
            self._check(response, len(rows), "outputs")


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
    """Set the exit code from the budget: CI fails when the service is too slow or fails."""
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
        f"p99 {p99:.0f} ms, failures {total.fail_ratio:.4%}"
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
