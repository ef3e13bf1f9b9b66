"""Open-model load for ``make loadtest``, judged on exact percentiles against the budget.

Requests leave on a schedule (``LOADTEST_RATE`` per second for ``LOADTEST_DURATION_S``
seconds) whether or not earlier ones were answered, and each latency runs from its
scheduled time: a stalled service shows up as latency instead of quietly slowing the load
down (coordinated omission, which a closed loop of users hides). The verdict reads every
latency, with nearest-rank percentiles (no buckets, no rounding): p99 within the budget's
``p99_ms``, failures (non-2xx, errors, timeouts and sends dropped past
``LOADTEST_MAX_OUTSTANDING``) within ``max_error_rate``, and the rate achieved within 5 % of
the one asked. The run ends by itself once the schedule is done and the last answers are in.

Environment: ``LOADTEST_RATE`` (default: the budget's ``min_rps``, else 20),
``LOADTEST_DURATION_S`` (30), ``LOADTEST_TIMEOUT_S`` (per request, 10),
``LOADTEST_MAX_OUTSTANDING`` (1000), ``LOADTEST_BUDGET`` (another decision record),
``LOADTEST_SEED`` (reproducible payloads). One locust process: workers are refused.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import gevent
import yaml
from gevent.pool import Group
from geventhttpclient import HTTPClient
from locust import User, events, task
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import MasterRunner, WorkerRunner

ROOT = Path(__file__).resolve().parent.parent
BUDGET_FILE = Path(os.environ.get("LOADTEST_BUDGET", ROOT / "mlship.yaml"))
DEFAULT_RATE = 20.0
RATE_TOLERANCE = 0.05
HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}

log = logging.getLogger("loadtest")

# A check reads an answer (status, body) and says what is wrong with it, or None.
Check = Callable[[int, bytes], str | None]


@dataclass(frozen=True)
class Call:
    path: str
    body: bytes
    check: Check
    name: str = ""


@dataclass(frozen=True)
class Plan:
    rate: float
    duration_s: float
    timeout_s: float
    max_outstanding: int
    p99_ms: float | None
    max_error_rate: float | None  # None: the record states none, so failures are only reported


def load_plan() -> Plan:
    """The schedule from the environment, the budget from the decision record."""
    budget: dict[str, Any] = {}
    if BUDGET_FILE.is_file():
        record = yaml.safe_load(BUDGET_FILE.read_text(encoding="utf-8")) or {}
        budget = record.get("budget") or {}
    else:
        log.warning("%s not found: judging the failures and the rate only", BUDGET_FILE)
    rate = os.environ.get("LOADTEST_RATE") or budget.get("min_rps") or DEFAULT_RATE
    error_rate = budget.get("max_error_rate")
    return Plan(
        rate=float(rate),
        duration_s=float(os.environ.get("LOADTEST_DURATION_S") or 30),
        timeout_s=float(os.environ.get("LOADTEST_TIMEOUT_S") or 10),
        max_outstanding=int(os.environ.get("LOADTEST_MAX_OUTSTANDING") or 1000),
        p99_ms=float(budget["p99_ms"]) if budget.get("p99_ms") is not None else None,
        max_error_rate=float(error_rate) if error_rate is not None else None,
    )


def percentile(ordered: list[float], p: float) -> float | None:
    """Nearest rank: the smallest value that at least p % of the values do not exceed."""
    if not ordered:
        return None
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class Results:
    latencies_ms: list[float] = field(default_factory=list)  # every answered request
    outcomes: Counter[str] = field(default_factory=Counter)  # ok, HTTP 503, timeout, ...
    late: int = 0  # left more than 10 ms after their scheduled time
    finished: int = 0  # schedulers done
    first_due: float | None = None
    last_due: float = 0.0

    @property
    def sent(self) -> int:
        return sum(self.outcomes.values())

    @property
    def failed(self) -> int:
        return self.sent - self.outcomes["ok"]


PLAN = load_plan()
RESULTS = Results()


class OpenModelUser(User):
    """One scheduler: ``next_call`` gives each request; subclasses say what to send."""

    abstract = True

    def next_call(self) -> Call:
        raise NotImplementedError

    def on_start(self) -> None:
        url = urlsplit(self.host or "http://127.0.0.1:8000")
        self.http = HTTPClient(
            url.hostname or "127.0.0.1",
            url.port or 80,
            concurrency=PLAN.max_outstanding,
            network_timeout=PLAN.timeout_s,
            connection_timeout=PLAN.timeout_s,
        )

    def on_stop(self) -> None:
        self.http.close()

    @task
    def schedule(self) -> None:
        """Send at the planned rate for the planned time, wait for the answers, end the run."""
        options = self.environment.parsed_options
        users = max(1, int(getattr(options, "num_users", 1) or 1))
        rate = PLAN.rate / users  # the plan's rate is the total, shared by the users
        group = Group()
        start = time.perf_counter()
        count = math.floor(rate * PLAN.duration_s)
        for n in range(count):
            due = start + n / rate
            wait = due - time.perf_counter()
            if wait > 0:
                gevent.sleep(wait)
            call = self.next_call()
            RESULTS.first_due = RESULTS.first_due if RESULTS.first_due is not None else due
            RESULTS.last_due = due
            if time.perf_counter() - due > 0.01:
                RESULTS.late += 1
            if len(group) >= PLAN.max_outstanding:
                RESULTS.outcomes["dropped"] += 1
                continue
            group.spawn(self._send, call, due)
        group.join(timeout=PLAN.timeout_s + 1)
        group.kill(block=True, timeout=2)
        RESULTS.finished += 1
        runner = self.environment.runner
        if runner is not None and RESULTS.finished >= users:
            gevent.spawn(runner.quit)
        raise StopUser()

    def _send(self, call: Call, due: float) -> None:
        problem: str | None = None
        length = 0
        try:
            response = self.http.request("POST", call.path, body=call.body, headers=HEADERS)
            try:
                content = response.read()
            finally:
                response.release()
            length = len(content)
            problem = call.check(response.status_code, content)
            outcome = "ok" if problem is None else f"HTTP {response.status_code}"
        except gevent.GreenletExit:
            RESULTS.outcomes["timeout"] += 1
            raise
        except Exception as error:  # every failure is a result to count, not a crash
            problem = f"{type(error).__name__}: {error}"
            outcome = "timeout" if "timeout" in problem.lower() else type(error).__name__
        latency_ms = (time.perf_counter() - due) * 1000
        RESULTS.outcomes[outcome] += 1
        if outcome == "ok" or outcome.startswith("HTTP"):
            RESULTS.latencies_ms.append(latency_ms)
        self.environment.events.request.fire(
            request_type="POST",
            name=call.name or call.path,
            response_time=latency_ms,
            response_length=length,
            exception=RuntimeError(problem) if problem else None,
            context={},
        )


def verdict(plan: Plan, results: Results) -> tuple[list[str], str]:
    """(what is over budget, a one-line summary) from every recorded request."""
    ordered = sorted(results.latencies_ms)
    p50, p99 = percentile(ordered, 50), percentile(ordered, 99)
    sent = results.sent
    span = results.last_due - (results.first_due or 0.0)
    achieved = (sent - 1) / span if sent > 1 and span > 0 else 0.0
    failures = results.failed / sent if sent else 1.0
    problems = []
    if sent == 0:
        problems.append("no request was sent")
    if plan.max_error_rate is not None and failures > plan.max_error_rate:
        problems.append(f"failures {failures:.4%} > budget {plan.max_error_rate:.4%}")
    if plan.p99_ms is not None and (p99 is None or p99 > plan.p99_ms):
        problems.append(f"p99 {_ms(p99)} > budget {plan.p99_ms:g} ms")
    if achieved < plan.rate * (1 - RATE_TOLERANCE):
        problems.append(
            f"sent {achieved:.1f} req/s, below the {plan.rate:g} asked (generator late)"
        )
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(results.outcomes.items()) if k != "ok")
    summary = (
        f"{sent} requests at {achieved:.1f} req/s (asked {plan.rate:g}), "
        f"p50 {_ms(p50)}, p99 {_ms(p99)} (exact, from the scheduled send), "
        f"failures {failures:.4%}{f' ({kinds})' if kinds else ''}, late sends {results.late}"
    )
    return problems, summary


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} ms"


def judge(environment: Environment, **_: Any) -> None:
    """Set the exit code from the budget: CI fails when the service is too slow or fails."""
    if isinstance(environment.runner, WorkerRunner | MasterRunner):
        log.error("run make loadtest in one process: the verdict needs every latency")
        environment.process_exit_code = 2
        return
    problems, summary = verdict(PLAN, RESULTS)
    if problems:
        log.error("over budget: %s (%s)", "; ".join(problems), summary)
        environment.process_exit_code = 1
    else:
        log.info("within budget: %s", summary)
        environment.process_exit_code = 0


# locust's EventHook is untyped, hence the ignore.
events.quitting.add_listener(judge)  # type: ignore[no-untyped-call]
