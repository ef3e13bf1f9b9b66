"""The memory of a process tree, sampled while it runs: what a job's container would see.

A job that forks workers is many processes: the peak of one (what ``/usr/bin/time``
reports) understates it, and the sum of their resident sizes overstates it (the workers
share the parent's pages). The proportional set size (PSS) splits shared pages between
the processes that share them, so its sum over the tree is the tree's real footprint;
where PSS cannot be read, the sum of resident sizes is used and the report says so.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

MB = 1024 * 1024
INTERVAL_S = 0.2


def tree_memory(root_pid: int) -> tuple[float, int, str] | None:
    """(MiB, processes, "pss" or "rss") of ``root_pid`` and its descendants; None if gone."""
    import psutil

    try:
        root = psutil.Process(root_pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    total = 0
    measure = "pss"
    counted = 0
    for process in processes:
        try:
            if measure == "pss":
                try:
                    total += process.memory_full_info().pss
                    counted += 1
                    continue
                except (psutil.AccessDenied, AttributeError):
                    measure = "rss"
                    total = sum(_rss(p) for p in processes[:counted])
            total += process.memory_info().rss
            counted += 1
        except psutil.Error:
            continue  # it ended between the listing and the reading
    return total / MB, counted, measure


def _rss(process: Any) -> int:
    try:
        rss: int = process.memory_info().rss
        return rss
    except Exception:
        return 0


@dataclass
class MemorySampler:
    """Samples a process tree in a background thread until stopped; keeps the peak."""

    root_pid: int
    interval_s: float = INTERVAL_S
    peak_mb: float | None = None
    processes: int = 0
    measure: str = "pss"
    samples: list[tuple[float, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> MemorySampler:
        self._thread = threading.Thread(target=self._loop, name="memory", daemon=True)
        self._thread.start()
        return self

    def sample(self, now: float) -> None:
        found = tree_memory(self.root_pid)
        if found is None:
            return
        mb, count, measure = found
        self.samples.append((now, mb))
        self.processes = max(self.processes, count)
        self.measure = measure
        if self.peak_mb is None or mb > self.peak_mb:
            self.peak_mb = mb

    def _loop(self) -> None:
        import time

        while not self._stop.is_set():
            self.sample(time.time())
            self._stop.wait(self.interval_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
