"""The local engine: one process per part, as many processes as cores (or ``workers``).

Workers start (forkserver, else spawn: no state inherited from the parent) before the input is
planned, so that their imports and model loading overlap the planner's checksum pass.
Each loads and verifies the model once, then scores the parts it is given. With a single
worker everything runs in this process.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from pathlib import Path
from types import TracebackType
from typing import Any

from ..inference import Predictor, load_predictor
from ..logs import configure_logging
from .output import Layout, PartResult
from .plan import Part, Plan
from .progress import Counter
from .scoring import Scorer
from .settings import BatchSettings

_predictor: Predictor | None = None
_scorers: dict[tuple[str, str, tuple[str, ...]], Scorer] = {}
_counter: Counter | None = None
_settings: BatchSettings | None = None


def make_scorer(settings: BatchSettings, plan: Plan, predictor: Predictor | None = None) -> Scorer:
    return Scorer(
        predictor or load_predictor(settings),
        plan.id_column,
        plan.id_type,
        plan.features,
        settings.batch_size,
        settings.block_bytes(),
    )


def _start_worker(settings_json: str, shared: Any) -> None:
    global _predictor, _counter, _settings
    _settings = BatchSettings.model_validate_json(settings_json)
    configure_logging(_settings.log_level, _settings.log_json)
    _predictor = load_predictor(_settings)
    _counter = Counter(shared)


def _ready() -> bool:
    return _predictor is not None


def _score(part_json: str, root: str, plan: Plan) -> PartResult:
    assert _predictor is not None and _counter is not None and _settings is not None
    key = (plan.id_column, plan.id_type, tuple(plan.features))
    if key not in _scorers:
        _scorers[key] = make_scorer(_settings, plan, _predictor)
    part = Part.from_json(part_json)
    return _scorers[key].score_part(part, Layout(Path(root)), _counter.add)


def _context() -> Any:
    """forkserver: workers fork from one clean process that has imported this module (and
    with it pyarrow and the inference core) once; spawn where forkserver does not exist."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__, *_PRELOAD])
    return context


# imported once by the fork server instead of once per worker (a missing one is skipped);
# not polars, whose thread pool must not be inherited through fork
_PRELOAD = ("onnxruntime",)


class LocalEngine:
    """A pool of ``workers`` processes, started at once; none when ``workers`` is 1."""

    def __init__(self, settings: BatchSettings, workers: int) -> None:
        self.settings = settings
        self.workers = workers
        self.pool: ProcessPoolExecutor | None = None
        self.counter = Counter()
        if workers > 1:
            context = _context()
            self.counter = Counter(context.Value("q", 0))
            self.pool = ProcessPoolExecutor(
                max_workers=workers,
                mp_context=context,
                initializer=_start_worker,
                initargs=(settings.model_dump_json(), self.counter.shared),
            )
            for _ in range(workers):  # each submit starts one process
                self.pool.submit(_ready)

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def run(self, plan: Plan, pending: list[Part], layout: Layout) -> list[PartResult]:
        if not pending:
            return []
        if self.pool is None:
            scorer = make_scorer(self.settings, plan)
            return [scorer.score_part(part, layout, self.counter.add) for part in pending]
        futures: list[Future[PartResult]] = [
            self.pool.submit(_score, part.as_json(), str(layout.root), plan) for part in pending
        ]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for future in done:
            error = future.exception()
            if error is not None:
                raise error
        return [future.result() for future in futures]
