"""The local engine: one process per part, as many processes as cores (or ``workers``).

Workers start with ``spawn`` (no state inherited from the parent), load and verify the
model once, then score the parts they are given. One worker runs in this process.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from ..inference import load_predictor
from ..logs import configure_logging
from .output import Layout, PartResult
from .plan import Part, Plan
from .progress import Counter
from .scoring import Scorer
from .settings import BatchSettings

_scorer: Scorer | None = None
_counter: Counter | None = None


def make_scorer(settings: BatchSettings, plan: Plan) -> Scorer:
    return Scorer(
        load_predictor(settings),
        plan.id_column,
        plan.id_type,
        plan.features,
        settings.batch_size,
        settings.block_bytes(),
    )


def _start_worker(settings_json: str, plan: Plan, shared: Any) -> None:
    global _scorer, _counter
    settings = BatchSettings.model_validate_json(settings_json)
    configure_logging(settings.log_level, settings.log_json)
    _scorer = make_scorer(settings, plan)
    _counter = Counter(shared)


def _score(part_json: str, root: str) -> PartResult:
    assert _scorer is not None and _counter is not None, "worker not initialised"
    return _scorer.score_part(Part.from_json(part_json), Layout(Path(root)), _counter.add)


def run_local(
    settings: BatchSettings, plan: Plan, pending: list[Part], layout: Layout, counter: Counter
) -> list[PartResult]:
    if not pending:
        return []
    workers = settings.worker_count(len(pending))
    if workers == 1:
        scorer = make_scorer(settings, plan)
        return [scorer.score_part(part, layout, counter.add) for part in pending]
    context = multiprocessing.get_context("spawn")
    shared = context.Value("q", 0)
    counter.shared = shared
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_start_worker,
        initargs=(settings.model_dump_json(), plan, shared),
    ) as pool:
        futures: list[Future[PartResult]] = [
            pool.submit(_score, part.as_json(), str(layout.root)) for part in pending
        ]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for future in done:
            if future.exception() is not None:
                pool.shutdown(cancel_futures=True)
                raise future.exception()  # type: ignore[misc]
        return [future.result() for future in futures]
