"""A circuit breaker per remote stage: stop calling a dependency that keeps failing.

Closed: calls go through; ``failures`` consecutive failures open it. Open: calls fail at once
(the stage's fallback answers in microseconds) until ``reset_s`` has passed. Half-open: one
probe call goes through; success closes the circuit, failure opens it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import IntEnum


class State(IntEnum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitBreaker:
    def __init__(
        self,
        failures: int,
        reset_s: float,
        on_change: Callable[[State], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = failures
        self.reset_s = reset_s
        self.state = State.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False
        self._clock = clock
        self._on_change = on_change

    def _set(self, state: State) -> None:
        if state != self.state:
            self.state = state
            if self._on_change:
                self._on_change(state)

    def allow(self) -> bool:
        """May a call go out now? In half-open state only one probe at a time."""
        if self.state == State.OPEN:
            if self._clock() - self._opened_at < self.reset_s:
                return False
            self._set(State.HALF_OPEN)
        if self.state == State.HALF_OPEN:
            if self._probing:
                return False
            self._probing = True
        return True

    def success(self) -> None:
        self._failures = 0
        self._probing = False
        self._set(State.CLOSED)

    def abandon(self) -> None:
        """A call that was let through ended without a verdict (cancelled)."""
        self._probing = False

    def failure(self) -> None:
        self._probing = False
        self._failures += 1
        if self.state == State.HALF_OPEN or self._failures >= self.threshold:
            self._opened_at = self._clock()
            self._set(State.OPEN)
