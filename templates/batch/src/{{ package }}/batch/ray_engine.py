"""The Ray engine: Ray Data hands parts to a pool of actors that each hold the model.

Every actor loads and verifies the model once (``num_gpus`` each when the project runs on
GPUs) and scores whole parts with the same code as the local engine, so both engines write
the same bytes and resume the same way. Locally Ray starts a private cluster; with
``ray_address`` (or ``RAY_ADDRESS``) the job joins an existing one, whose workers must see
the input and the output folder (a shared volume, or object-store input URIs).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from .errors import JobConfigError
from .output import Layout, PartResult
from .plan import Part, Plan
from .progress import Counter, wanted
from .scoring import make_scorer
from .settings import BatchSettings, available_cores

log = logging.getLogger(__name__)


class PartActor:
    """Callable class for ``map_batches``: built once per actor, called once per part."""

    def __init__(self, settings_json: str, plan: Plan, root: str) -> None:
        from ..logs import configure_logging

        settings = BatchSettings.model_validate_json(settings_json)
        configure_logging(settings.log_level, settings.log_json)
        self.scorer = make_scorer(settings, plan)
        self.layout = Layout(Path(root))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = [
            json.dumps(asdict(self.scorer.score_part(Part.from_json(str(text)), self.layout)))
            for text in batch["part"]
        ]
        return {"result": np.asarray(results, dtype=object)}


def _init_ray(settings: BatchSettings) -> None:
    import ray

    if ray.is_initialized():
        return
    address = settings.ray_address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=True)
        return
    temp = settings.ray_temp_dir or Path(tempfile.gettempdir()) / "ray"
    ray.init(
        num_cpus=available_cores(),
        include_dashboard=False,
        _temp_dir=str(Path(temp).resolve()),
        log_to_driver=True,
    )


def _gpus_per_actor(settings: BatchSettings, cluster_gpus: float) -> float:
    """GPUs to ask for: none on a cluster without any, unless the device must be a GPU
    (an actor asking for a GPU that no node has would wait forever)."""
    wanted = settings.ray_gpus_per_actor
    if wanted and not cluster_gpus:
        if settings.device == "cuda":
            raise JobConfigError(
                "engine ray: APP_DEVICE=cuda but the Ray cluster has no GPU",
                hint="run on a cluster with GPU nodes, or set APP_DEVICE=auto to use CPUs",
            )
        log.warning("the Ray cluster has no GPU; actors run on CPUs")
        return 0.0
    return wanted


def run_ray(
    settings: BatchSettings, plan: Plan, pending: list[Part], layout: Layout, counter: Counter
) -> list[PartResult]:
    if not pending:
        return []
    import ray

    _init_ray(settings)
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = wanted(settings.progress)
        items = [{"part": part.as_json()} for part in pending]
        dataset = ray.data.from_items(items, override_num_blocks=len(items))
        actors = settings.worker_count(len(pending))
        kwargs: dict[str, Any] = {}
        gpus = _gpus_per_actor(settings, float(ray.cluster_resources().get("GPU", 0)))
        if gpus:
            kwargs["num_gpus"] = gpus
        scored = dataset.map_batches(
            PartActor,
            fn_constructor_args=(settings.model_dump_json(), plan, str(layout.root.resolve())),
            batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=settings.ray_cpus_per_actor,
            **kwargs,
        )
        results = []
        for row in scored.iter_rows():
            result = PartResult(**json.loads(row["result"]))
            counter.add(result.records)
            results.append(result)
        return results
    finally:
        if not (settings.ray_address or os.environ.get("RAY_ADDRESS")):
            ray.shutdown()


class RayEngine:
    """The engine interface of the job (``counter``, ``run``) over :func:`run_ray`."""

    def __init__(self, settings: BatchSettings) -> None:
        self.settings = settings
        self.counter = Counter()
        self.workers = 0  # actors, once the pending parts are known

    def __enter__(self) -> RayEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def run(self, plan: Plan, pending: list[Part], layout: Layout) -> list[PartResult]:
        self.workers = self.settings.worker_count(len(pending))
        return run_ray(self.settings, plan, pending, layout, self.counter)
