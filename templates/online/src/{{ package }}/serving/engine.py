"""Runs the model off the event loop, in a bounded thread pool, batched or not.

The pool has exactly ``inference_threads`` threads: model calls never run on the event
loop, and the number of concurrent calls is an explicit setting rather than a hidden
default of asyncio or the runtime.
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
        """Scores for validated rows, computed on a pool thread."""
        if self._batcher is not None and len(rows) < self.max_batch:
            return await self._batcher.submit(rows)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, self._run, rows)

    def _run_parts(self, parts: list[np.ndarray]) -> np.ndarray:
        return self._run(parts[0] if len(parts) == 1 else np.concatenate(parts))

    def _run(self, rows: np.ndarray) -> np.ndarray:
        started = time.perf_counter()
        scores = self.predictor.run(rows)
        self._m_inference.observe(time.perf_counter() - started)
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
