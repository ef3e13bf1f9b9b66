"""Budget-aware admission: admit a request only when it can still finish within the budget.

The expected completion of a new request is the work ahead of it at the measured service
rate, ``(in_flight + 1) / rate``. The rate is completions per second of busy time (time
with at least one request in the service) over the last ``window`` completions, so it
measures whatever limits the service (model, batcher, event loop) and follows it as batches
grow with load; idle time says nothing about it and does not count. A request whose
expected completion is over the target is shed at once with a Retry-After derived from the
backlog, instead of waiting in a queue past its deadline. Work the service has not even
looked at yet counts too: ``lag_s``, how late the event loop runs its callbacks (measured
by the guard, averaged so that a lone stall does not count as a queue), is the time a
request waits before admission sees it. A request that finds nothing in flight is always
admitted: an idle service can do nothing better with it, even when one request alone
takes longer than the target. Until ``min_samples`` requests have completed there is no
rate yet and only the hard cap applies; ``max_in_flight`` caps every mode.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from .settings import HttpSettings


class Admission:
    def __init__(
        self,
        budgeted: bool,
        target_s: float,
        max_in_flight: int,
        min_retry_s: int = 1,
        window: int = 256,
        min_samples: int = 20,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.budgeted = budgeted
        self.target_s = target_s
        self.max_in_flight = max_in_flight
        self.min_retry_s = min_retry_s
        self.min_samples = max(2, min_samples)
        self.in_flight = 0
        self.reading = 0  # admitted requests whose bodies are still arriving
        self.lag_s = 0.0  # how late the event loop runs, a moving average
        self._clock = clock
        self._last = clock()
        self._busy = 0.0  # busy seconds so far
        # busy seconds so far at each of the last completions: window / span is the rate
        self._marks: deque[float] = deque(maxlen=max(window, self.min_samples))

    @classmethod
    def from_settings(cls, settings: HttpSettings) -> Admission:
        return cls(
            budgeted=settings.admission == "budget",
            target_s=settings.admission_target_s(),
            max_in_flight=settings.max_concurrency,
            min_retry_s=settings.retry_after_s,
        )

    @property
    def rate(self) -> float | None:
        """Requests per second the service completes while busy, once measured."""
        marks = self._marks
        if len(marks) < self.min_samples:
            return None
        span = marks[-1] - marks[0]
        return (len(marks) - 1) / span if span > 0 else None

    def backlog_s(self, rate: float | None = None) -> float:
        """Expected time until the requests now in the service are done (at ``rate`` when
        the caller has just measured it)."""
        rate = rate or self.rate
        return self.in_flight / rate if rate else 0.0

    def admit(self) -> int | None:
        """None when admitted (call :meth:`release` once answered), else the Retry-After."""
        retry_s = self.refusal()
        if retry_s is not None:
            return retry_s
        self._tick()
        self.in_flight += 1
        return None

    def refusal(self) -> int | None:
        """The Retry-After if a request arriving now would be shed, else None; admits nothing."""
        in_flight = self.in_flight
        if in_flight >= self.max_in_flight:
            return self._retry_after()
        if self.budgeted and in_flight:
            rate = self.rate
            if rate is not None and (in_flight + 1) / rate + self.lag_s > self.target_s:
                return self._retry_after(rate)
        return None

    def observe_lag(self, lag_s: float) -> None:
        """One measurement of the event loop's lateness, averaged over the last ten or so."""
        self.lag_s += 0.1 * (lag_s - self.lag_s)

    def release(self) -> None:
        self._tick()
        self.in_flight -= 1
        self._marks.append(self._busy)

    def _tick(self) -> None:
        now = self._clock()
        if self.in_flight:
            self._busy += now - self._last
        self._last = now

    def _retry_after(self, rate: float | None = None) -> int:
        return max(self.min_retry_s, math.ceil(self.backlog_s(rate)))
