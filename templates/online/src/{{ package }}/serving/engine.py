"""Runs the model in a bounded thread pool, batched or not, or inline when that is cheaper.

The pool has exactly ``inference_threads`` threads, so the number of concurrent calls is an
explicit setting rather than a hidden default of asyncio or the runtime. A call of a few
rows that is measured to take under ``inline_call_us`` runs on the event loop itself when
no other call is in flight: handing it to a thread and back costs more than the call (two
thread wake-ups against a model call of microseconds), and the loop is held no longer
than the hand-off would have taken.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..inference.drift import DriftMonitor
from ..inference.predictor import Predictor
from .batching import MicroBatcher
from .metrics import Metrics
from .settings import ServingSettings

log = logging.getLogger(__name__)
_DRIFT_EVERY_S = 1.0
INF = float("inf")
INLINE_MAX_ROWS = 8  # larger calls always go to the pool: their cost grows with the rows


def non_finite_rows(scores: np.ndarray) -> list[int]:
    """Rows whose scores are not all finite: inputs the model's arithmetic cannot handle."""
    if np.isfinite(scores).all():
        return []
    finite = np.isfinite(scores.reshape(len(scores), -1)).all(axis=1)
    return np.flatnonzero(~finite).tolist()[:10]


class InferenceEngine:
    def __init__(
        self,
        predictor: Predictor,
        settings: ServingSettings,
        metrics: Metrics,
        expected: Callable[[], int],
    ) -> None:
        self.predictor = predictor
        self.threads = settings.thread_count()
        self.pool = ThreadPoolExecutor(self.threads, thread_name_prefix="inference")
        mode = settings.micro_batching
        self.batching = mode == "on" or (mode == "auto" and predictor.gains_from_batching)
        self.max_batch = settings.max_batch_size
        self._inline_s = settings.inline_call_us / 1e6
        self._small_call_s = INF  # moving average of calls of few rows, once measured
        self._pending = 0  # calls handed to the pool and not yet back
        self._last_done = 0.0  # when the last call ended: requests close behind it are batched
        self._batcher = (
            MicroBatcher(
                self._run_parts,
                self.pool,
                # one batch more than threads: the next batch waits in the pool's queue, so
                # a thread never idles until the event loop gets round to dispatching
                slots=self.threads + 1,
                max_rows=self.max_batch,
                max_wait_s=settings.batch_wait_s(),
                expected=expected,
            )
            if self.batching
            else None
        )
        version = predictor.info.version
        self.model_ref = {
            "name": predictor.info.name,
            "version": version,
            "sha256": predictor.info.sha256,
        }
        self._m_inference = metrics.inference.labels(version)
        self._m_predictions = metrics.predictions.labels(version)
        self._m_batch = metrics.batch_size
        self._m_score = metrics.score
        self._m_drift = metrics.drift.labels(version)
        baseline = predictor.manifest.baseline
        histogram = baseline.score_histogram if baseline else None
        self._drift = DriftMonitor(histogram, settings.drift_window) if histogram else None
        self._drift_lock = threading.Lock()
        self._drift_next = 0.0
        log.info(
            "inference engine: %d threads, micro-batching %s (max %d rows, wait %.2f ms)",
            self.threads,
            "on" if self.batching else "off",
            self.max_batch,
            settings.batch_wait_s() * 1000,
            extra={"threads": self.threads, "batching": self.batching},
        )

    async def infer(self, rows: np.ndarray) -> np.ndarray:
        """Scores for validated rows: inline when cheap and nothing is in flight, else on a
        pool thread (through the micro-batcher when batching)."""
        if (
            len(rows) <= INLINE_MAX_ROWS
            and self._small_call_s < self._inline_s
            and self.idle
            and time.perf_counter() - self._last_done > self._inline_s
        ):
            return self._run(rows)
        if self._batcher is not None and len(rows) < self.max_batch:
            return await self._batcher.submit(rows)
        loop = asyncio.get_running_loop()
        self._pending += 1
        try:
            return await loop.run_in_executor(self.pool, self._run, rows)
        finally:
            self._pending -= 1

    @property
    def idle(self) -> bool:
        """No model call is running or waiting for a thread."""
        return self._pending == 0 and (self._batcher is None or self._batcher.idle)

    def _run_parts(self, parts: list[np.ndarray]) -> np.ndarray:
        return self._run(parts[0] if len(parts) == 1 else np.concatenate(parts))

    def _run(self, rows: np.ndarray) -> np.ndarray:
        started = time.perf_counter()
        scores = self.predictor.run(rows)
        elapsed = time.perf_counter() - started
        self._m_inference.observe(elapsed)
        if len(rows) <= INLINE_MAX_ROWS:
            known = self._small_call_s
            self._small_call_s = elapsed if known == INF else known + 0.1 * (elapsed - known)
        self._last_done = time.perf_counter()
        self._m_batch.observe(len(rows))
        self._m_predictions.inc(len(rows))
        observed = self.predictor.drift_scores(scores)
        for value in observed.tolist():
            self._m_score.observe(value)
        if self._drift is not None:
            self._drift.observe(observed)
            self._refresh_drift()
        return scores

    def _refresh_drift(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now < self._drift_next:
            return
        with self._drift_lock:
            self._drift_next = now + _DRIFT_EVERY_S
        value = self._drift.value() if self._drift else None
        if value is not None:
            self._m_drift.set(value)

    def refresh_metrics(self) -> None:
        """Bring the drift gauge up to date (called before each scrape)."""
        self._refresh_drift(force=True)

    def close(self) -> None:
        self.pool.shutdown(wait=True)
