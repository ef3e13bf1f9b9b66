"""Adaptive micro-batching: requests that arrive while the model is busy share one call.

At low load a request is dispatched at once (no added latency). When every dispatch slot
is taken (one per inference thread, plus one batch waiting in the pool's queue), requests
queue here and the next free slot takes all of them (up to ``max_rows``) as one batch, so
batches grow with load. When a thread is free but more requests are already on their way
(``expected()``: admitted requests whose bodies are still arriving), the batcher waits at
most ``max_wait_s`` for them. Requests that are past the model (their replies being sent)
are not on their way: counting them made a closed loop of 8 clients wait for the timer on
every round.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future

import numpy as np

RunBatch = Callable[[list[np.ndarray]], np.ndarray]


class MicroBatcher:
    def __init__(
        self,
        run: RunBatch,
        pool: Executor,
        slots: int,
        max_rows: int,
        max_wait_s: float,
        expected: Callable[[], int],
    ) -> None:
        self._run = run
        self._pool = pool
        self._slots = slots
        self._free = slots
        self._max_rows = max_rows
        self._max_wait_s = max_wait_s
        self._expected = expected
        self._queue: deque[tuple[np.ndarray, asyncio.Future[np.ndarray]]] = deque()
        self._queued_rows = 0
        self._running = 0  # requests inside dispatched batches
        self._timer: asyncio.TimerHandle | None = None

    @property
    def idle(self) -> bool:
        """No batch is running or queued."""
        return self._free == self._slots and not self._queue

    async def submit(self, rows: np.ndarray) -> np.ndarray:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[np.ndarray] = loop.create_future()
        self._queue.append((rows, future))
        self._queued_rows += len(rows)
        self._pump(loop)
        return await future

    def _pump(self, loop: asyncio.AbstractEventLoop) -> None:
        while self._free and self._queue:
            if self._max_wait_s > 0 and self._queued_rows < self._max_rows and self._expected() > 0:
                if self._timer is None:
                    self._timer = loop.call_later(self._max_wait_s, self._flush, loop)
                return
            self._dispatch(loop)

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        while self._free and self._queue:
            self._dispatch(loop)

    def _dispatch(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        parts: list[np.ndarray] = []
        futures: list[asyncio.Future[np.ndarray]] = []
        rows = 0
        while self._queue and (not parts or rows + len(self._queue[0][0]) <= self._max_rows):
            part, future = self._queue.popleft()
            if future.done():  # cancelled (timeout or client gone) while queued
                self._queued_rows -= len(part)
                continue
            parts.append(part)
            futures.append(future)
            rows += len(part)
        self._queued_rows -= rows
        if not parts:
            return
        self._free -= 1
        self._running += len(parts)
        sizes = [len(p) for p in parts]
        done = self._pool.submit(self._run, parts)
        done.add_done_callback(
            lambda f: loop.call_soon_threadsafe(self._complete, loop, f, futures, sizes)
        )

    def _complete(
        self,
        loop: asyncio.AbstractEventLoop,
        done: Future[np.ndarray],
        futures: list[asyncio.Future[np.ndarray]],
        sizes: list[int],
    ) -> None:
        self._free += 1
        self._running -= len(futures)
        error = done.exception()
        if error is not None:
            for future in futures:
                if not future.done():
                    future.set_exception(error)
        else:
            scores = done.result()
            start = 0
            for future, size in zip(futures, sizes, strict=True):
                if not future.done():
                    future.set_result(scores[start : start + size])
                start += size
        self._pump(loop)
