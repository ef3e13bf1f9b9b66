"""How many events a batch takes and how long the loop waits for them, from the budget.

A fixed "take 500, wait up to 20 ms" adds its wait to every event at light load and caps the
batch at heavy load whatever the budget says. Instead:

- the loop never waits for a fuller batch while it keeps up: it takes what has arrived
  (at least one event) and scores it at once; at higher rates batches grow by themselves,
  because events arrive while the previous batch is scored;
- a batch is capped at what the model scores within a share of the latency budget (from the
  measured cost per batch and per event), so a backlog after a restart or a burst is worked
  off in batches that keep their own events within the budget;
- it waits for more events only when the arrival rate would otherwise keep the consumer
  too busy with per-batch overhead, and never longer than the same share of the budget.
"""

from __future__ import annotations

from collections import deque

BUSY = 0.7  # utilisation above which the loop lingers for fuller batches
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
        self, budget_s: float, max_batch: int, max_wait_s: float, share: float = 0.1
    ) -> None:
        self.slice_s = budget_s * share
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.cost = CostModel()
        self.arrivals = RateMeter()

    def observe(self, events: int, seconds: float, now: float) -> None:
        """One batch taken (``events``) and how long it took to score and hand off."""
        self.cost.observe(events, seconds)
        self.arrivals.add(events, now)

    def limit(self) -> int:
        """The most events one batch may take: scored within the budget's share."""
        if not self.cost.known or self.cost.per_event <= 0:
            return self.max_batch
        fits = int((self.slice_s - self.cost.fixed) / self.cost.per_event)
        return max(1, min(self.max_batch, fits))

    def linger_s(self, have: int) -> float:
        """How long to wait for more events when ``have`` are in hand (0: go now)."""
        rate = self.arrivals.rate
        if rate <= 0 or have <= 0 or not self.cost.known:
            return 0.0
        fixed, per_event = self.cost.fixed, self.cost.per_event
        if rate * (fixed / have + per_event) <= BUSY:
            return 0.0  # keeping up with batches this size: waiting only adds latency
        headroom = BUSY - rate * per_event
        if headroom <= 0:
            return 0.0  # saturated by per-event work: a backlog will fill batches anyway
        wanted = min(self.limit(), rate * fixed / headroom)
        wait = (wanted - have) / rate
        room = self.slice_s - self.cost.seconds(int(wanted))
        return max(0.0, min(wait, self.max_wait_s, room))
