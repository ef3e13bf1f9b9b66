"""A progress bar on a terminal, silence elsewhere (CI logs, pipes, cron mail)."""

from __future__ import annotations

import os
import sys
import threading
import time

_INTERVAL_S = 0.5
_WIDTH = 30


def wanted(mode: str) -> bool:
    if mode != "auto":
        return mode == "on"
    return sys.stderr.isatty() and not os.environ.get("CI")


class Counter:
    """Rows done, added to by every scoring thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = 0

    def add(self, rows: int) -> None:
        with self._lock:
            self._value += rows

    @property
    def value(self) -> int:
        return self._value


class ProgressBar:
    """Redraws one stderr line from a background thread until stopped."""

    def __init__(self, counter: Counter, total: int, enabled: bool) -> None:
        self.counter = counter
        self.total = max(total, 1)
        self.enabled = enabled
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._started = time.monotonic()

    def __enter__(self) -> ProgressBar:
        if self.enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._stop.set()
            self._thread.join()
            self._draw()
            sys.stderr.write("\n")
            sys.stderr.flush()

    def _loop(self) -> None:
        while not self._stop.wait(_INTERVAL_S):
            self._draw()

    def _draw(self) -> None:
        done = min(self.counter.value, self.total)
        share = done / self.total
        filled = int(share * _WIDTH)
        rate = done / max(time.monotonic() - self._started, 1e-9)
        bar = "#" * filled + "." * (_WIDTH - filled)
        sys.stderr.write(f"\r[{bar}] {share:6.1%} {done:,}/{self.total:,} rows {rate:,.0f} rows/s")
        sys.stderr.flush()
