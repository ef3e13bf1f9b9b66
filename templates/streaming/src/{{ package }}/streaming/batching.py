"""How many events a batch takes and how long the loop waits for them, from the budget.

A batch may spend ``share`` of the latency budget (10% by default) before its predictions
are handed to the producer: half of it waiting for events, half being scored.

- **Wait**: when the measured arrival rate brings at least two events within the waiting
  half, the loop waits that long for a fuller batch (returning as soon as the batch is
  full): per-batch costs (a model call, a commit, a poll) are shared by more events, at a
  latency cost the budget allows for. At lighter load waiting would gather nothing, so an
  event is scored as soon as it is fetched.
- **Size**: a batch takes at most what the model scores within the scoring half, from the
  cost per batch and per event measured as it runs, so a backlog after a restart or a
  burst is worked off in batches that keep their own events within the budget.

``max_batch_size`` and ``max_batch_wait_ms`` cap both (memory, a GPU's batch limit).
"""

from __future__ import annotations

from collections import deque

MIN_EVENTS_WORTH_WAITING_FOR = 2.0
_WINDOW = 64  # recent batches the cost model is fitted on
_REFIT_EVERY = 16
_RATE_INTERVAL_S = 0.5
_RATE_WEIGHT = 0.3  # EWMA weight of the newest arrival-rate sample


class CostModel:
    """Seconds to score and hand off a batch of n events: ``fixed + per_event * n``."""

    def __init__(self) -> None:
        self._samples: deque[tuple[int, float]] = deque(maxlen=_WINDOW)
        self._since_fit = 0
        self.fixed = 0.0
        self.per_event = 0.0

    @property
    def known(self) -> bool:
        return self.per_event > 0 or self.fixed > 0

    def observe(self, events: int, seconds: float) -> None:
        if events <= 0:
            return
        self._samples.append((events, seconds))
        self._since_fit += 1
        if self._since_fit >= _REFIT_EVERY or not self.known:
            self._fit()

    def seconds(self, events: int) -> float:
        return self.fixed + self.per_event * events

    def _fit(self) -> None:
        """Least squares over the window; one batch size only: all cost per event."""
        self._since_fit = 0
        n = len(self._samples)
        mean_x = sum(x for x, _ in self._samples) / n
        mean_y = sum(y for _, y in self._samples) / n
        var = sum((x - mean_x) ** 2 for x, _ in self._samples)
        if var > 0:
            cov = sum((x - mean_x) * (y - mean_y) for x, y in self._samples)
            slope = max(cov / var, 0.0)
            self.per_event = slope
            self.fixed = max(mean_y - slope * mean_x, 0.0)
        else:
            self.per_event = mean_y / mean_x
            self.fixed = 0.0


class RateMeter:
    """Events per second arriving, smoothed over half-second intervals."""

    def __init__(self) -> None:
        self.rate = 0.0
        self._count = 0
        self._since: float | None = None

    def add(self, events: int, now: float) -> None:
        """``events`` taken at ``now``: they arrived since the previous call."""
        if self._since is None:
            self._since = now  # the first events arrived before anything was measured
            return
        self._count += events
        elapsed = now - self._since
        if elapsed >= _RATE_INTERVAL_S:
            sample = self._count / elapsed
            self.rate = (
                sample
                if self.rate == 0
                else (_RATE_WEIGHT * sample + (1 - _RATE_WEIGHT) * self.rate)
            )
            self._count, self._since = 0, now


class BatchSizer:
    """The batch limit and the wait for one turn of the loop."""

    def __init__(
        self,
        budget_s: float,
        max_batch: int,
        max_wait_s: float | None = None,
        share: float = 0.1,
    ) -> None:
        self.slice_s = budget_s * share / 2  # waiting gets one half, scoring the other
        self.max_batch = max_batch
        self.max_wait_s = self.slice_s if max_wait_s is None else min(max_wait_s, self.slice_s)
        self.cost = CostModel()
        self.arrivals = RateMeter()

    def observe(self, events: int, seconds: float, now: float) -> None:
        """One batch taken (``events``) and how long it took to score and hand off."""
        self.cost.observe(events, seconds)
        self.arrivals.add(events, now)

    def limit(self) -> int:
        """The most events one batch may take: scored within the scoring half."""
        if not self.cost.known or self.cost.per_event <= 0:
            return self.max_batch
        fits = int((self.slice_s - self.cost.fixed) / self.cost.per_event + 1e-9)
        return max(1, min(self.max_batch, fits))

    def wait_s(self) -> float:
        """How long to wait for a fuller batch (0: take what has arrived and go)."""
        if self.arrivals.rate * self.max_wait_s < MIN_EVENTS_WORTH_WAITING_FOR:
            return 0.0
        return self.max_wait_s
