"""One run of the batch job: plan, skip what is done, score the rest, reconcile, report."""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import subprocess
import time
import uuid
from dataclasses import asdict
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from .. import __version__
from ..inference import load_manifest
from ..inference.manifest import Manifest, verify_artifact
from . import metrics, progress
from .columns import Columns
from .errors import CountMismatch, JobConfigError, RejectRateExceeded
from .output import Layout, PartResult, completed, write_json
from .plan import Checksums, Plan, build_plan, discover, estimate_parts
from .scoring import OUTPUT_FORMAT_VERSION, STAGES
from .settings import BatchSettings

log = logging.getLogger(__name__)

_RUNTIME_PACKAGES = ("pyarrow", "numpy", "onnxruntime", "onnxruntime-gpu", "scikit-learn", "torch")


def feature_names(manifest: Manifest) -> list[str]:
    """The input columns the model reads: the manifest's names, else feature_0..N-1."""
    spec = manifest.input
    return list(spec.features or (f"feature_{i}" for i in range(spec.n_features)))


def run_job(settings: BatchSettings) -> dict[str, Any]:
    """Score ``settings.input`` into ``settings.output``; return the run manifest."""
    started = datetime.now(UTC)
    clock = time.perf_counter()
    if not settings.input:
        raise JobConfigError("input: no input given", hint="pass --input PATH or set APP_INPUT")
    model = load_manifest(settings.models_dir)
    verify_artifact(model, settings.models_dir)
    features = feature_names(model)
    files = discover(settings.input, settings.input_format, skip=str(settings.output.resolve()))
    with _engine(settings, files) as engine:
        return _run(settings, engine, files, model, features, started, clock)


def _run(
    settings: BatchSettings,
    engine: Any,
    files: list[tuple[str, str]],
    model: Manifest,
    features: list[str],
    started: datetime,
    clock: float,
) -> dict[str, Any]:
    columns = Columns(settings.id_column, tuple(features), settings.feature_column)
    params = {
        "id_column": settings.id_column,
        "features": features,
        "feature_column": settings.feature_column,
        "model_sha256": model.sha256,
        "batch_size": settings.batch_size,
        "block_bytes": settings.block_bytes(),
        "output_format_version": OUTPUT_FORMAT_VERSION,
    }
    checksums = Checksums([path for path, _ in files])
    try:
        plan = build_plan(
            files,
            columns,
            settings.part_bytes(),
            settings.block_bytes(),
            settings.parquet_part_rows,
            params,
        )
    except BaseException:
        checksums.cancel()
        raise
    timings = {"plan": time.perf_counter() - clock}
    layout = Layout(settings.output)
    done = completed(layout, plan, settings.overwrite)
    pending = [part for part in plan.parts if part.name not in done]
    log.info(
        "planned %d records in %d parts from %d files; %d parts already done",
        plan.records,
        len(plan.parts),
        len(plan.inputs),
        len(done),
    )
    run_id = f"{started.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}"
    base = _base_document(run_id, settings, plan, model, started)
    write_json(layout.manifest, {**base, "status": "running"})
    counter: progress.Counter = engine.counter
    counter.add(sum(r.records for r in done.values()))
    scoring = time.perf_counter()
    with progress.ProgressBar(counter, plan.records, progress.wanted(settings.progress)):
        fresh = engine.run(plan, pending, layout)
    waiting = time.perf_counter()
    timings["score"] = waiting - scoring
    sums = checksums.result()
    timings["checksums_wait"] = time.perf_counter() - waiting
    base["inputs"] = [{**f, "sha256": sums[f["source"]]} for f in base["inputs"]]
    results = {**done, **{r.name: r for r in fresh}}
    ordered = [results[part.name] for part in plan.parts]
    base["workers"] = engine.workers
    document = _finish(base, ordered, plan, settings, clock, timings)
    write_json(layout.manifest, document)
    metrics.publish(document, settings.metrics_path(), settings.pushgateway, settings.job_name)
    counts = document["counts"]
    if counts["scored"] + counts["rejected"] != counts["input"]:
        raise CountMismatch(
            f"{counts['input']} records in, {counts['scored']} scored + "
            f"{counts['rejected']} rejected"
        )
    if document["status"] != "succeeded":
        raise RejectRateExceeded(
            f"{counts['rejected']} of {counts['input']} records rejected "
            f"({counts['reject_rate']:.2%} > max_reject_rate {settings.max_reject_rate:.2%}); "
            f"see {layout.rejects}",
            hint="fix the input, or raise --max-reject-rate if these records may be dropped",
        )
    return document


def _engine(settings: BatchSettings, files: list[tuple[str, str]]) -> Any:
    """The engine, started before planning so that its start-up overlaps the planner."""
    if settings.engine == "ray":
        from .ray_engine import RayEngine

        return RayEngine(settings)
    from .local import LocalEngine

    parts = estimate_parts(files, settings.part_bytes())
    ndjson = any(fmt == "ndjson" for _, fmt in files)
    return LocalEngine(settings, settings.worker_count(parts), ndjson=ndjson)


def _base_document(
    run_id: str, settings: BatchSettings, plan: Plan, model: Manifest, started: datetime
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "started": started.isoformat(timespec="milliseconds"),
        "code": {"package_version": __version__, "git_commit": git_commit()},
        "environment": _environment(),
        "model": {
            "name": model.name,
            "version": model.version,
            "framework": model.framework,
            "file": model.file,
            "sha256": model.sha256,
            "device": settings.device,
        },
        "params": {
            **plan.params,
            "input": settings.input,
            "input_format": settings.input_format,
            "engine": settings.engine,
            "workers": settings.workers,
            "max_reject_rate": settings.max_reject_rate,
            "part_bytes": settings.part_bytes(),
            "parquet_part_rows": settings.parquet_part_rows,
            "id_type": plan.id_type,
        },
        "inputs": [asdict(f) for f in plan.inputs],
        "output": str(settings.output),
    }


def _finish(
    base: dict[str, Any],
    results: list[PartResult],
    plan: Plan,
    settings: BatchSettings,
    clock: float,
    timings: dict[str, float],
) -> dict[str, Any]:
    ended = datetime.now(UTC)
    duration = time.perf_counter() - clock
    scored = sum(r.scored for r in results)
    rejected = sum(r.rejected for r in results)
    rate = rejected / plan.records if plan.records else 0.0
    fresh_rows = sum(r.records for r in results if not r.skipped)
    digest = hashlib.sha256("".join(r.sha256 for r in results).encode()).hexdigest()
    return {
        **base,
        "status": "succeeded" if rate <= settings.max_reject_rate else "failed_reject_rate",
        "ended": ended.isoformat(timespec="milliseconds"),
        "ended_unix": ended.timestamp(),
        "duration_s": round(duration, 3),
        "rows_per_s": round(fresh_rows / duration, 1) if duration > 0 else 0.0,
        "counts": {
            "input": plan.records,
            "scored": scored,
            "rejected": rejected,
            "reject_rate": round(rate, 6),
        },
        "parts": {
            "total": len(results),
            "scored": sum(1 for r in results if not r.skipped),
            "skipped": sum(1 for r in results if r.skipped),
            "files": [asdict(r) for r in results],
        },
        "predictions_sha256": digest,
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "stages_s": _stage_totals(results),
    }


def _stage_totals(results: list[PartResult]) -> dict[str, float]:
    """Seconds each stage took, summed over the parts scored in this run: with several
    workers the sum exceeds the wall time, and the shares say what bounds the rate."""
    totals: dict[str, float] = dict.fromkeys(STAGES, 0.0)
    for result in results:
        for stage, seconds in result.stages.items():
            totals[stage] = totals.get(stage, 0.0) + seconds
    return {stage: round(seconds, 4) for stage, seconds in totals.items()}


def git_commit() -> str | None:
    """The commit of the code that ran: GIT_COMMIT (set it in images), else git itself."""
    if os.environ.get("GIT_COMMIT"):
        return os.environ["GIT_COMMIT"]
    try:
        found = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return found.stdout.strip() or None


def _environment() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in _RUNTIME_PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found
