"""Batches handed to the producer and not yet acknowledged, in consumption order.

A batch becomes committable when the broker has acknowledged every record it produced
(predictions and dead letters). Offsets are committed for the longest prefix of finished
batches only, so a commit never covers an event whose output might still be lost.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

Partition = tuple[str, int]
# What was handed to the producer: topic, key, value, headers (kept until acknowledged).
Output = tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]] | None]


@dataclass
class Batch:
    """One consumed batch: the next offset per partition and its outstanding deliveries."""

    next_offsets: dict[Partition, int]
    timestamps_ms: list[int] = field(default_factory=list)
    outputs: list[Output] = field(default_factory=list)
    created: float = field(default_factory=time.monotonic)
    produced: int = 0
    pending: int = 0
    sealed: bool = False
    failed: str | None = None

    @property
    def done(self) -> bool:
        return self.sealed and self.pending == 0 and self.failed is None

    def on_delivery(self, error: object, _message: object) -> None:
        """librdkafka's delivery report, called from ``producer.poll`` in the loop's thread."""
        self.pending -= 1
        if error is not None and self.failed is None:
            self.failed = str(error)


class InFlight:
    """The ordered window of batches between consumption and commit."""

    def __init__(self) -> None:
        self._batches: deque[Batch] = deque()

    def __len__(self) -> int:
        return len(self._batches)

    def add(self, batch: Batch) -> None:
        self._batches.append(batch)

    def failure(self) -> str | None:
        """The first delivery failure, if any (the loop stops rather than commit past it)."""
        return next((b.failed for b in self._batches if b.failed), None)

    def pop_committable(self) -> tuple[dict[Partition, int], list[Batch]]:
        """Offsets to commit for the finished prefix, and the batches it covers."""
        offsets: dict[Partition, int] = {}
        finished: list[Batch] = []
        while self._batches and self._batches[0].done:
            batch = self._batches.popleft()
            offsets.update(batch.next_offsets)
            finished.append(batch)
        return offsets, finished

    def oldest_age_s(self) -> float:
        """Seconds the oldest unfinished batch has waited (0 when none waits)."""
        return time.monotonic() - self._batches[0].created if self._batches else 0.0

    def take_all(self) -> list[Batch]:
        """Remove and return every batch, oldest first."""
        batches = list(self._batches)
        self._batches.clear()
        return batches

    def clear(self) -> int:
        """Forget every batch (after a revocation); returns how many were dropped."""
        dropped = len(self._batches)
        self._batches.clear()
        return dropped
