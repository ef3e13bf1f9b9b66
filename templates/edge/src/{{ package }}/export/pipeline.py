"""One run of the edge pipeline, step by step, from ``models/`` to ``dist/``.

Every step starts from its inputs and rewrites its outputs, so a second run gives the same
bundle (the timings aside) and an interrupted run leaves nothing half-judged in ``dist/``:
the bundle is assembled in a temporary folder and swapped in at the end.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ..inference import load_predictor
from ..inference.manifest import artifact_path
from ..settings import AppSettings
from . import bench, budget, bundle, parity, quantize, targets
from .config import ExportConfig, device_budget, targets_for, variants_for
from .convert import export_model, score_output_name
from .ort_session import open_session, run_scores
from .report import write_reports
from .samples import labels_as_indices, load_sample

STEPS = 7


class PipelineError(RuntimeError):
    """A step that cannot go on; the message says which and why."""


@dataclass
class Options:
    models_dir: Path = Path("models")
    dist: Path = Path("dist")
    work: Path = Path("build/export")
    record: Path = Path("mlship.yaml")
    sample: Path | None = None
    target: str | None = None
    device_factor: float | None = None
    variants: list[str] | None = None
    targets: list[str] | None = None
    opset: int | None = None
    threads: int | None = None
    quiet: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _progress(options: Options, step: int, text: str) -> None:
    if not options.quiet:
        print(f"[{step}/{STEPS}] {text}", file=sys.stderr, flush=True)


def run_pipeline(config: ExportConfig, options: Options) -> dict[str, Any]:
    """Export, check, quantize, convert per runtime, benchmark, judge, bundle; the report."""
    if options.opset is not None:
        config = config.model_copy(update={"opset": options.opset})
    if options.threads is not None:
        config.benchmark.threads = options.threads
    device = device_budget(config, options.record, options.target, options.device_factor)
    variants = (
        options.variants if options.variants is not None else variants_for(config, device.target)
    )
    runtimes = options.targets if options.targets else targets_for(config, device.target)
    work = options.work
    work.mkdir(parents=True, exist_ok=True)

    _progress(options, 1, f"loading {options.models_dir / 'manifest.json'} (sha256 verified)")
    predictor = load_predictor(
        AppSettings(models_dir=options.models_dir, device="cpu", warmup_runs=0)
    )
    manifest = predictor.manifest
    sample = load_sample(manifest, options.sample, config.calibration_rows)
    labels = labels_as_indices(sample.y, manifest.output.classes)

    _progress(options, 2, f"exporting {manifest.framework} -> ONNX opset {config.opset}")
    source = artifact_path(manifest, options.models_dir)
    # Score with the source before exporting: torch's exporter leaves a TorchScript module
    # unusable under inference mode.
    early = None if manifest.framework == "onnx" else np.asarray(predictor.run(sample.x))
    exported = export_model(predictor, source, work / "model.fp32.onnx", config.opset)
    reference = (
        early
        if early is not None
        else source_scores(predictor, source, sample.x, exported.score_output)
    )
    fp32_scores = run_scores(open_session(exported.path), sample.x, exported.score_output)
    fp32_parity = parity.compare(reference, fp32_scores, config.tolerances["fp32"], labels)
    if not fp32_parity.passed:
        raise PipelineError(parity.describe_failure("fp32 export", fp32_parity))
    _progress(
        options,
        3,
        f"parity fp32: max abs diff {fp32_parity.max_abs_diff:.2e}, "
        f"agreement {_pct(fp32_parity.label_agreement)} on {fp32_parity.rows} rows",
    )

    built: list[tuple[str, Path, parity.Parity]] = [("fp32", exported.path, fp32_parity)]
    skipped: list[dict[str, str]] = []
    failed: list[dict[str, str]] = []
    calibration = sample.calibration if sample.calibration is not None else sample.x[:0]
    for name in variants:
        _progress(options, 4, f"quantizing: {name}")
        if name == "static" and len(calibration) == 0:
            failed.append(
                {
                    "variant": name,
                    "reason": "no calibration rows disjoint from the "
                    "evaluation rows (give a sample file with more rows)",
                }
            )
            continue
        try:
            made = quantize.make_variant(name, exported.path, work, calibration)
        except Exception as error:  # a converter bug must not hide the other variants
            failed.append({"variant": name, "reason": f"{type(error).__name__}: {error}"})
            continue
        if not made.applicable or made.path is None:
            skipped.append({"variant": name, "reason": made.reason})
            continue
        scores = run_scores(open_session(made.path), sample.x, exported.score_output)
        tolerance = config.tolerances.get(name, config.tolerances["fp32"])
        built.append((name, made.path, parity.compare(reference, scores, tolerance, labels)))

    others = [r for r in runtimes if r in targets.RUNTIMES]
    if others:
        _progress(options, 4, f"converting for {', '.join(others)}")
    module = getattr(predictor.runtime, "_module", None)
    runtime_results = targets.build_all(
        others,
        variants,
        targets.Inputs(
            framework=manifest.framework,
            module=module,
            width=predictor.schema.n_features,
            onnx_fp32=exported.path,
            x=sample.x,
            reference=reference,
            labels=labels,
            calibration=calibration,
            tolerances=config.tolerances,
            threads=config.benchmark.threads,
            work=work,
            input_name=manifest.input.name,
        ),
    )

    _progress(
        options,
        5,
        f"benchmarking ({config.benchmark.threads} thread(s), "
        f"{config.benchmark.rounds} interleaved rounds)",
    )
    row = np.ascontiguousarray(sample.x[:1], dtype=np.float32)
    rows = bench.batch_rows(sample.x, config.benchmark.batch_size)
    repeats = config.benchmark.load_repeats
    onnx_cases = [onnx_case(name, path, row, rows, config) for name, path, _ in built]
    runtime_cases = [
        (result, result.case(row, rows, repeats)) for result in runtime_results if result.case
    ]
    bench.run_cases(onnx_cases + [c for _, c in runtime_cases], config.benchmark)
    results: list[dict[str, Any]] = []
    for (name, path, checked), case in zip(built, onnx_cases, strict=True):
        entry = {
            "name": name,
            "file": str(path),
            "parity": checked.as_dict(),
            "benchmark": bench.results(case, len(rows), config.benchmark.threads),
        }
        entry["budget"] = budget.judge(entry, device)
        results.append(entry)
    for result, case in runtime_cases:
        result.entry["benchmark"] = bench.results(case, len(rows), config.benchmark.threads)
        result.entry["budget"] = budget.judge(result.entry, device)
    for result in runtime_results:
        if result.entry["status"] == "unverified" and "size_bytes" in result.entry:
            size_only = {
                "benchmark": {"size_bytes": result.entry["size_bytes"], "single": {"p99_ms": 0.0}}
            }
            verdict = budget.judge(size_only, device.model_copy(update={"p99_ms": None}))
            result.entry["budget"] = verdict | {
                "note": "memory only: latency and parity need macOS"
            }
    chosen = budget.recommend(results)
    _progress(options, 6, f"device budget ({device.target}): ship {chosen['variant']}")
    runtime_entries = [r.entry for r in runtime_results]

    report: dict[str, Any] = {
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "model": {
            "name": manifest.name,
            "version": manifest.version,
            "framework": manifest.framework,
            "file": manifest.file,
            "sha256": manifest.sha256,
        },
        "export": {
            "exporter": exported.exporter,
            "opset": exported.opset,
            "inputs": exported.inputs,
            "outputs": exported.outputs,
            "score_output": exported.score_output,
            "external_data": exported.external_data,
        },
        "sample": {
            "origin": sample.origin,
            "rows": len(sample.x),
            "labelled": labels is not None,
            "calibration_origin": sample.calibration_origin,
            "calibration_rows": len(calibration),
            "calibration_disjoint": True,
        },
        "benchmark": {
            "threads": config.benchmark.threads,
            "batch_size": config.benchmark.batch_size,
            "rounds": config.benchmark.rounds,
            "machine": bench.machine(),
        },
        "budget": device.model_dump(),
        "targets": runtimes,
        "requested_variants": variants,
        "variants": results,
        "not_applicable": skipped,
        "failed_variants": failed,
        "runtimes": runtime_entries,
        "failed_targets": [
            {
                "target": e["target"],
                "variant": e["variant"],
                "status": e["status"],
                "reason": e.get("reason") or "; ".join(e.get("parity", {}).get("problems", [])),
            }
            for e in runtime_entries
            if e["status"] in ("failed", "not_produced")
        ],
        "tolerances": {k: v.model_dump() for k, v in config.tolerances.items()},
        "recommendation": chosen,
        "ratios": ratios(results),
        "runtime_ratios": runtime_ratios(runtime_entries),
    }
    _progress(options, 7, f"bundling into {options.dist}/")
    with tempfile.TemporaryDirectory(prefix="bundle-", dir=work) as staging:
        staged = Path(staging) / "dist"
        notes = bundle.assemble(report, predictor, sample.x, staged, work, reference)
        report["bundle"] = {"path": str(options.dist), "notes": notes}
        write_reports(report, staged)
        write_reports(report, work)
        if options.dist.exists():
            shutil.rmtree(options.dist)
        shutil.move(str(staged), options.dist)
    return report


def onnx_case(
    name: str, path: Path, row: np.ndarray, rows: np.ndarray, config: ExportConfig
) -> bench.Case:
    threads = config.benchmark.threads
    single, batch = open_session(path, threads), open_session(path, threads)
    input_name = single.get_inputs()[0].name
    return bench.Case(
        name=f"onnx/{name}",
        single=lambda: single.run(None, {input_name: row}),
        batch=lambda: batch.run(None, {input_name: rows}),
        load_ms=bench.load_time_ms(
            lambda: open_session(path, threads), config.benchmark.load_repeats
        ),
        size_bytes=path.stat().st_size,
    )


def ratios(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """How each variant compares with fp32: >1 means faster or smaller.

    Speed-ups are medians of the per-round ratios (the rounds interleave the variants), with
    their spread across rounds: (max - min) / median.
    """
    fp32 = next(r for r in results if r["name"] == "fp32")["benchmark"]
    out: dict[str, dict[str, Any]] = {}
    for result in results:
        if result["name"] == "fp32":
            continue
        out[result["name"]] = _ratio(fp32, result["benchmark"])
        out[result["name"]]["accuracy_delta"] = result["parity"]["accuracy_delta"]
    return out


def _ratio(base: dict[str, Any], mine: dict[str, Any]) -> dict[str, Any]:
    single = bench.ratio_spread(base["single"]["round_p50_ms"], mine["single"]["round_p50_ms"])
    batch = bench.ratio_spread(base["batch"]["round_p50_ms"], mine["batch"]["round_p50_ms"])
    return {
        "single_speedup": single["median"],
        "single_speedup_spread": single["spread"],
        "batch_speedup": batch["median"],
        "batch_speedup_spread": batch["spread"],
        "size_ratio": base["size_bytes"] / mine["size_bytes"],
    }


def runtime_ratios(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each runtime's int8 variants against that runtime's fp32, as for ONNX."""
    out: dict[str, dict[str, Any]] = {}
    timed = [e for e in entries if "benchmark" in e]
    for entry in timed:
        if entry["variant"] == "fp32":
            continue
        base = next(
            (e for e in timed if e["target"] == entry["target"] and e["variant"] == "fp32"), None
        )
        if base is None:
            continue
        ratio = _ratio(base["benchmark"], entry["benchmark"])
        ratio["accuracy_delta"] = entry.get("parity", {}).get("accuracy_delta")
        out[f"{entry['target']}/{entry['variant']}"] = ratio
    return out


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2%}"


def verify(
    config: ExportConfig, models_dir: Path, model: Path, variant: str, sample_path: Path | None
) -> parity.Parity:
    """Parity of any ONNX file against the project's source model (``verify`` command)."""
    predictor = load_predictor(AppSettings(models_dir=models_dir, device="cpu", warmup_runs=0))
    sample = load_sample(predictor.manifest, sample_path, calibration_rows=0)
    labels = labels_as_indices(sample.y, predictor.manifest.output.classes)
    session = open_session(model)
    outputs = [{"name": o.name, "dtype": _dtype(o.type)} for o in session.get_outputs()]
    output = score_output_name(outputs, predictor)
    scores = run_scores(session, sample.x, output)
    source = artifact_path(predictor.manifest, models_dir)
    reference = source_scores(predictor, source, sample.x, output)
    tolerance = config.tolerances.get(variant, config.tolerances["fp32"])
    return parity.compare(reference, np.asarray(scores), tolerance, labels)


def _dtype(onnxruntime_type: str) -> str:
    """``tensor(float)`` -> ``float32``, ``tensor(int64)`` -> ``int64``."""
    inner = onnxruntime_type.removeprefix("tensor(").removesuffix(")")
    return "float32" if inner == "float" else inner


def source_scores(predictor: Any, source: Path, x: np.ndarray, output: str) -> np.ndarray:
    """The source model's scores: the ONNX file's own score output, else the runtime's."""
    if predictor.manifest.framework == "onnx":
        # the manifest may name a label output; compare the scores the export is judged on
        return run_scores(open_session(source), x, output)
    return np.asarray(predictor.run(x))
