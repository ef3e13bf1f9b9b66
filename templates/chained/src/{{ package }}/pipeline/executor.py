"""Run the stages of one request: dependency order, deadlines, retries, breakers, fallbacks.

- Every stage starts as soon as the stages it reads have finished; independent stages run
  concurrently.
- The request's deadline is split: a stage gets at most its ``timeout_ms`` and at most its
  share of the time left, in proportion to its timeout and the longest chain after it, so
  an early stage cannot eat the time of the later ones.
- A failed attempt is retried (``retries`` times) after a backoff with full jitter, and only
  when the backoff plus a useful attempt still fit in the stage's time.
- Remote stages sit behind a circuit breaker: while it is open, the fallback answers at once.
- Fallbacks: ``skip`` (no output), ``default`` (the declared value) or ``fail`` (the request
  fails: 503 when the stage is unavailable, 504 when time ran out).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .adapters import Adapter, MissingInput
from .breaker import CircuitBreaker, State
from .metrics import Metrics
from .spec import PipelineSpec, StageSpec, downstream_ms
from .stages import Stage, StageCallError, StageTimeout, StageUnavailable
from .tracing import Tracing

log = logging.getLogger(__name__)

MIN_ATTEMPT_S = 0.001  # no retry is started with less time than this left


class PipelineFailed(Exception):
    """A stage with ``fallback: fail`` could not answer; ``status`` is 503 or 504."""

    def __init__(self, stage: str, reason: str, message: str) -> None:
        super().__init__(message)
        self.stage = stage
        self.reason = reason
        self.status = 504 if reason in ("timeout", "deadline") else 503


@dataclass
class StageReport:
    status: str = "pending"  # ok | skipped | default | failed
    latency_ms: float = 0.0
    attempts: int = 0
    budget_ms: float = 0.0
    error: str | None = None
    output: list[Any] | None = None

    def public(self, location: str, model: dict[str, str]) -> dict[str, Any]:
        return {
            "status": self.status,
            "latency_ms": round(self.latency_ms, 3),
            "budget_ms": round(self.budget_ms, 3),
            "attempts": self.attempts,
            "location": location,
            "model": model,
            **({"error": self.error} if self.error else {}),
        }


@dataclass
class Outcome:
    reports: dict[str, StageReport] = field(default_factory=dict)


@dataclass
class BoundStage:
    spec: StageSpec
    adapter: Adapter
    stage: Stage
    breaker: CircuitBreaker | None


class Executor:
    def __init__(
        self,
        spec: PipelineSpec,
        order: list[str],
        bound: dict[str, BoundStage],
        metrics: Metrics,
        rng: random.Random | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self.spec = spec
        self.tracing = tracing or Tracing()
        self.order = order
        self.bound = bound
        self.metrics = metrics
        self.downstream = downstream_ms(spec)
        self._rng = rng or random.Random()

    async def run(self, texts: Sequence[str], deadline: float, request_id: str) -> Outcome:
        """Run every stage for a batch of texts; ``deadline`` is a ``time.monotonic()`` value."""
        outcome = Outcome({name: StageReport() for name in self.order})
        outputs: dict[str, list[Any]] = {}
        done: dict[str, asyncio.Event] = {name: asyncio.Event() for name in self.order}

        async def run_stage(name: str) -> None:
            bound = self.bound[name]
            try:
                for dep in bound.spec.stage_inputs:
                    await done[dep].wait()
                report = outcome.reports[name]
                with self.tracing.span(
                    f"stage {name}", stage=name, location=bound.stage.location
                ) as span:
                    try:
                        await self._run_one(bound, texts, outputs, report, deadline, request_id)
                    finally:
                        if span is not None:
                            span.set_attribute("stage.status", report.status)
                            span.set_attribute("stage.attempts", report.attempts)
            finally:
                done[name].set()

        tasks = [asyncio.create_task(run_stage(name)) for name in self.order]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        for name, report in outcome.reports.items():
            report.output = outputs.get(name)
        return outcome

    def _budget_s(self, spec: StageSpec, deadline: float) -> float:
        remaining = deadline - time.monotonic()
        own = spec.timeout_ms
        tail = self.downstream[spec.name]
        share = remaining * own / (own + tail) if tail else remaining
        return max(0.0, min(own / 1000.0, share))

    async def _run_one(
        self,
        bound: BoundStage,
        texts: Sequence[str],
        outputs: dict[str, list[Any]],
        report: StageReport,
        deadline: float,
        request_id: str,
    ) -> None:
        spec, stage = bound.spec, bound.stage
        started = time.monotonic()
        budget = self._budget_s(spec, deadline)
        report.budget_ms = budget * 1000
        reason, message = "error", ""
        try:
            rows, context = bound.adapter.rows(texts, outputs)
        except MissingInput as error:
            reason, message = "input_unavailable", str(error)
        else:
            stage_end = started + budget
            attempt = 0
            while True:
                left = stage_end - time.monotonic()
                if left <= 0:
                    reason = "deadline" if deadline <= stage_end else "timeout"
                    message = f"no time left for {spec.name!r}"
                    self.metrics.stage_errors.labels(spec.name, reason).inc()
                    break
                if bound.breaker is not None and not bound.breaker.allow():
                    reason, message = "circuit_open", f"circuit open for {spec.name!r}"
                    self.metrics.stage_errors.labels(spec.name, reason).inc()
                    break
                if spec.attempt_timeout_ms is not None:
                    left = min(left, spec.attempt_timeout_ms / 1000)
                report.attempts += 1
                try:
                    if len(rows):
                        scores = await asyncio.wait_for(
                            stage.call(rows, left, request_id), timeout=left
                        )
                    else:
                        scores = rows[:, :0]
                    output = bound.adapter.decode(scores, context)
                except asyncio.CancelledError:
                    if bound.breaker is not None:
                        bound.breaker.abandon()  # a cancelled probe must not block the next
                    raise
                except Exception as error:
                    if isinstance(error, TimeoutError):
                        failure: StageCallError = StageTimeout(
                            f"{spec.name!r}: no answer within {left * 1000:.1f} ms"
                        )
                    elif isinstance(error, StageCallError):
                        failure = error
                    else:  # a defect in an adapter or a model: logged, never retried
                        log.exception("stage %s raised", spec.name, extra={"stage": spec.name})
                        failure = StageCallError(f"{type(error).__name__}: {error}")
                    reason, message = failure.reason, str(failure)
                    self.metrics.stage_errors.labels(spec.name, reason).inc()
                    if bound.breaker is not None:
                        bound.breaker.failure()
                    # an in-process call that timed out is still running on the pool:
                    # another attempt would only add load where there is too much already
                    still_running = stage.location == "local" and failure.reason == "timeout"
                    if not failure.retryable or attempt >= spec.retries or still_running:
                        break
                    ceiling = min(spec.backoff_max_ms, spec.backoff_ms * (2**attempt)) / 1000
                    delay = self._rng.uniform(0.0, ceiling)
                    if time.monotonic() + delay + MIN_ATTEMPT_S >= stage_end:
                        break
                    self.metrics.stage_retries.labels(spec.name).inc()
                    await asyncio.sleep(delay)
                    attempt += 1
                    continue
                if bound.breaker is not None:
                    bound.breaker.success()
                outputs[spec.name] = output
                report.status = "ok"
                self.metrics.predictions.labels(spec.name, stage.info["version"]).inc(len(rows))
                self._finish(bound, report, started)
                return
        self._fallback(bound, report, outputs, len(texts), reason, message, started)

    def _fallback(
        self,
        bound: BoundStage,
        report: StageReport,
        outputs: dict[str, list[Any]],
        n: int,
        reason: str,
        message: str,
        started: float,
    ) -> None:
        spec = bound.spec
        report.error = f"{reason}: {message}"
        self.metrics.fallbacks.labels(spec.name, spec.fallback).inc()
        self._finish(bound, report, started)
        if spec.fallback == "fail":
            report.status = "failed"
            raise PipelineFailed(spec.name, reason, f"stage {spec.name!r} failed: {message}")
        if spec.fallback == "default":
            outputs[spec.name] = [spec.default] * n
            report.status = "default"
        else:
            report.status = "skipped"
        log.warning(
            "stage %s: %s, fallback %s",
            spec.name,
            message,
            spec.fallback,
            extra={"stage": spec.name, "reason": reason, "fallback": spec.fallback},
        )

    def _finish(self, bound: BoundStage, report: StageReport, started: float) -> None:
        report.latency_ms = (time.monotonic() - started) * 1000
        self.metrics.stage_duration.labels(bound.spec.name, bound.stage.location).observe(
            report.latency_ms / 1000
        )


def breaker_for(spec: StageSpec, metrics: Metrics) -> CircuitBreaker:
    gauge = metrics.circuit_state.labels(spec.name)
    gauge.set(State.CLOSED)

    def changed(state: State) -> None:
        gauge.set(int(state))
        if state == State.OPEN:
            metrics.circuit_opened.labels(spec.name).inc()
            log.warning("circuit of stage %s opened", spec.name, extra={"stage": spec.name})
        else:
            log.info(
                "circuit of stage %s is %s",
                spec.name,
                state.name.lower(),
                extra={"stage": spec.name},
            )

    return CircuitBreaker(spec.circuit.failures, spec.circuit.reset_s, on_change=changed)


__all__ = ["BoundStage", "Executor", "PipelineFailed", "StageUnavailable", "breaker_for"]
