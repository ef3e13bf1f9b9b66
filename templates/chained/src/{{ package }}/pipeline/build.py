"""Assemble the pipeline at start: spec, manifest, compatibility, stages, breakers.

Everything that can be wrong with a declaration or a model surfaces here, before the port
opens: :class:`SpecError` for the declaration, :class:`CompatibilityError` or the core's
``ModelLoadError`` for the models.
"""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .adapters import CompatibilityError, build_adapter, stage_record
from .executor import BoundStage, Executor, breaker_for
from .manifest import PipelineManifest, load_pipeline_manifest
from .metrics import Metrics
from .settings import PipelineSettings
from .spec import PipelineSpec, SpecError, load_spec
from .stages import LocalStage, RemoteStage, Stage
from .tracing import Tracing


@dataclass
class Pipeline:
    spec: PipelineSpec
    manifest: PipelineManifest
    executor: Executor
    pool: ThreadPoolExecutor

    @property
    def stages(self) -> dict[str, BoundStage]:
        return self.executor.bound

    async def close(self) -> None:
        for bound in self.stages.values():
            await bound.stage.close()
        self.pool.shutdown(wait=False)


def endpoint_of(name: str, declared: str | None, settings: PipelineSettings) -> str | None:
    """Where a stage runs remotely, or None for in-process."""
    if name in settings.endpoints:
        return settings.endpoints[name]
    return declared if settings.split else None


def build_pipeline(
    settings: PipelineSettings,
    metrics: Metrics,
    rng: random.Random | None = None,
    tracing: Tracing | None = None,
) -> Pipeline:
    spec, order = load_spec(settings.pipeline_file)
    unknown = sorted(set(settings.endpoints) - {s.name for s in spec.stages})
    if unknown:
        raise SpecError(
            f"endpoints: unknown stage {', '.join(unknown)} (not in {settings.pipeline_file})"
        )
    manifest = load_pipeline_manifest(settings.models_dir)
    deadline_ms = settings.request_deadline_ms()
    for stage in spec.stages:
        if stage.timeout_ms > deadline_ms:
            raise SpecError(
                f"stage {stage.name!r}: timeout_ms {stage.timeout_ms:g} exceeds the request "
                f"deadline of {deadline_ms:g} ms"
            )
    pool = ThreadPoolExecutor(settings.stage_threads, thread_name_prefix="stage")
    bound: dict[str, BoundStage] = {}
    for stage in spec.stages:
        record = stage_record(stage, manifest)
        adapter = build_adapter(stage, manifest)
        endpoint = endpoint_of(stage.name, stage.endpoint, settings)
        runner: Stage
        if endpoint is None and stage.model is None:
            raise CompatibilityError(f"stage {stage.name!r} has only an endpoint; set APP_SPLIT")
        if endpoint is not None:
            runner = RemoteStage(
                record, endpoint, settings.max_concurrency, tracing, protocol=stage.protocol
            )
            breaker = breaker_for(stage, metrics)
        else:
            runner = LocalStage(record, settings, pool)
            breaker = None
        metrics.model_info.labels(
            stage.name,
            record.name,
            record.version,
            record.framework,
            record.sha256,
            runner.location,
        ).set(1)
        bound[stage.name] = BoundStage(stage, adapter, runner, breaker)
    return Pipeline(spec, manifest, Executor(spec, order, bound, metrics, rng, tracing), pool)
