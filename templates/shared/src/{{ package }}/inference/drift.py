"""Population stability index (PSI) of recent prediction scores against the manifest baseline.

Scores are counted into the baseline's bins as they are produced (one ``searchsorted`` per
model call). Two generations of counts give a sliding window without storing scores.
"""

from __future__ import annotations

import threading

import numpy as np

from .manifest import Histogram

_EPSILON = 1e-4


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI between two count vectors over the same bins (0 = same distribution)."""
    e = np.maximum(expected / max(expected.sum(), 1.0), _EPSILON)
    a = np.maximum(actual / max(actual.sum(), 1.0), _EPSILON)
    return float(np.sum((a - e) * np.log(a / e)))


class DriftMonitor:
    """Thread-safe running PSI over roughly the last ``window`` scores."""

    def __init__(self, baseline: Histogram, window: int = 1000) -> None:
        self.edges = np.asarray(baseline.edges, dtype=np.float64)
        self.expected = np.asarray(baseline.counts, dtype=np.float64)
        if len(self.expected) != len(self.edges) - 1:
            raise ValueError("baseline histogram needs len(edges) == len(counts) + 1")
        self.window = max(1, window)
        self._current = np.zeros_like(self.expected)
        self._previous = np.zeros_like(self.expected)
        self._lock = threading.Lock()

    def observe(self, scores: np.ndarray) -> None:
        inner = self.edges[1:-1]
        bins = np.searchsorted(inner, scores, side="right")
        counts = np.bincount(bins, minlength=len(self.expected)).astype(np.float64)
        with self._lock:
            self._current += counts
            if self._current.sum() >= self.window:
                self._previous, self._current = self._current, np.zeros_like(self.expected)

    def value(self) -> float | None:
        """The PSI now, or None before any score was seen."""
        with self._lock:
            recent = self._current + self._previous
        if recent.sum() == 0:
            return None
        return psi(self.expected, recent)


def score_histogram(scores: np.ndarray, bins: int = 10) -> Histogram:
    """A baseline histogram of scores in [0, 1] (probabilities) or over their own range."""
    scores = np.asarray(scores, dtype=np.float64)
    low, high = (
        (0.0, 1.0) if scores.min() >= 0 and scores.max() <= 1 else (scores.min(), scores.max())
    )
    counts, edges = np.histogram(scores, bins=bins, range=(low, high))
    return Histogram(edges=[float(e) for e in edges], counts=[float(c) for c in counts])
