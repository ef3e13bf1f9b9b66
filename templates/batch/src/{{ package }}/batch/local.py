"""The local engine: the parts are scored by a pool of threads inside the job's process.

Threads rather than processes: every heavy step releases the GIL (the NDJSON, CSV and
Parquet readers, the model runtime, the Parquet writer, hashing), so threads use every core
while the job keeps one copy of the interpreter, the libraries and the model in memory.
And a job that is one process dies whole: ``kill -9`` of the job leaves no worker behind
that could go on writing into the output folder while a rerun starts.

A scored part is committed (fsync, rename, marker) by a thread of its own, so that the
scoring threads keep the cores busy while the disk syncs. The model is loaded, and the
NDJSON parser imported, in the background while the input is planned.
"""

from __future__ import annotations

import threading
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from types import TracebackType
from typing import TypeVar

from ..inference import Predictor, load_predictor
from .output import Layout, PartResult
from .plan import Part, Plan
from .progress import Counter
from .readers import parse_ndjson_ready, parser_threads
from .scoring import Scorer, Written, make_scorer
from .settings import BatchSettings

T = TypeVar("T")


class Stopped(Exception):
    """Raised inside a scoring thread when the run stops (another part failed, Ctrl-C)."""


class LocalEngine:
    """``workers`` scoring threads sharing one loaded model, and one committing thread."""

    def __init__(self, settings: BatchSettings, workers: int, ndjson: bool = False) -> None:
        self.settings = settings
        self.workers = workers
        self.counter = Counter()
        self._stop = threading.Event()
        self._failure: BaseException | None = None  # the first commit that failed
        parser_threads(workers)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="score")
        self._committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="commit")
        self._predictor: Future[Predictor] = self._pool.submit(load_predictor, settings)
        if ndjson:  # import the NDJSON parser while the input is planned, not in the first part
            self._pool.submit(parse_ndjson_ready)

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._committer.shutdown(wait=True)

    def run(self, plan: Plan, pending: list[Part], layout: Layout) -> list[PartResult]:
        if not pending:
            return []
        scorer = make_scorer(self.settings, plan, self._predictor.result())
        writes = [self._pool.submit(self._score, scorer, part, layout) for part in pending]
        try:
            return self._results(self._results(writes))
        finally:
            self._stop.set()  # after a failure or Ctrl-C, the threads stop at their next block

    def _score(self, scorer: Scorer, part: Part, layout: Layout) -> Future[PartResult]:
        written = scorer.write_part(part, layout, self._progress)
        return self._committer.submit(self._commit, scorer, written, layout)

    def _commit(self, scorer: Scorer, written: Written, layout: Layout) -> PartResult:
        try:
            return scorer.commit(written, layout)
        except BaseException as error:
            self._failure = self._failure or error
            self._stop.set()
            raise

    def _progress(self, rows: int) -> None:
        if self._stop.is_set():
            raise Stopped("the run was stopped")
        self.counter.add(rows)

    def _results(self, futures: list[Future[T]]) -> list[T]:
        """The results once all are done; at the first failure, stop the rest and raise its
        cause (not the ``Stopped`` of the threads it stopped)."""
        _, pending = wait(futures, return_when=FIRST_EXCEPTION)
        if pending:
            self._stop.set()
            for future in pending:
                future.cancel()
            wait(pending)
        errors = [f.exception() for f in futures if not f.cancelled() and f.exception()]
        causes = [error for error in errors if not isinstance(error, Stopped)]
        if self._failure is not None or errors:
            raise self._failure or (causes or errors)[0]
        return [future.result() for future in futures]
