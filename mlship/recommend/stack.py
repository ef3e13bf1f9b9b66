"""The stack suggestion for a chosen pattern: serving, runtime, hardware, scale-out.

Each choice carries a ``*_why`` that names the answers behind it, so a suggestion of
Triton or KServe over a plain FastAPI service can be argued with.
"""

from __future__ import annotations

from mlship.contracts import Answers
from mlship.knowledge.conditions import fill_placeholders
from mlship.knowledge.fields import format_value, get_answer
from mlship.knowledge.patterns import Pattern
from mlship.knowledge.sizing import Sizing
from mlship.recommend.estimates import Estimate, batch_estimate, replicas_for

StackValue = str | int | float | bool | None


def _serving(pattern: Pattern, answers: Answers, est: Estimate, sizing: Sizing) -> tuple[str, str]:
    if not pattern.serves_requests and pattern.stack.label is not None:
        return pattern.stack.label, pattern.stack.serving
    team, hw, model = answers.team, answers.hardware, answers.model
    peak = answers.traffic.peak_rps
    gpu_busy = est.device == "gpu" and peak is not None and peak >= sizing.serving.gpu_high_rps
    if team.ops_capacity == "platform" and team.kubernetes:
        why = (
            "team.ops_capacity is 'platform' and team.kubernetes is true: KServe gives every "
            "model the same InferenceService, request-based autoscaling and canary rollouts"
        )
        if gpu_busy:
            why += "; use its Triton runtime so dynamic batching keeps the GPUs busy"
        return "kserve", why
    if gpu_busy:
        return "triton", (
            f"hardware.accelerator is 'gpu' at traffic.peak_rps {format_value(peak)}: Triton's "
            "dynamic batching groups requests so each GPU call does more work"
        )
    many = sizing.serving.many_models_stages
    if model.stages >= many and (est.device == "gpu" or team.ops_capacity == "platform"):
        return "triton", (
            f"model.stages is {model.stages}: Triton hosts many models and runs them as one "
            "ensemble, batching each stage"
        )
    if model.framework == "pytorch" and est.device == "gpu" and team.ops_capacity == "platform":
        return "torchserve", (
            "model.framework is 'pytorch' on a GPU with team.ops_capacity 'platform': "
            "TorchServe batches requests and serves many PyTorch models with metrics built in"
        )
    if team.ops_capacity == "small":
        why = "team.ops_capacity is 'small': a FastAPI service is the least to run and debug"
    else:
        why = "nothing in the answers calls for dynamic batching or many models on one server"
    if hw.accelerator == "gpu" and est.device == "gpu" and not gpu_busy:
        why += "; at this rate a GPU is served well enough without an inference server"
    return "fastapi", why


def _runtime(pattern: Pattern, answers: Answers, est: Estimate) -> tuple[str, str, str]:
    """(runtime, model format for `mlship new`, why)."""
    framework = answers.model.framework
    if pattern.kind == "export" and framework == "pytorch":
        return (
            "onnxruntime",
            "torch",
            "model.framework is 'pytorch': the on-device converters (LiteRT, ExecuTorch, "
            "Core ML) take the PyTorch program, and ONNX runs in onnxruntime beside them",
        )
    if pattern.kind == "export":
        return (
            "onnxruntime",
            "onnx",
            f"model.framework is '{framework}': exported to ONNX it runs in onnxruntime on "
            "phones, boards and (onnxruntime-web) in the browser",
        )
    if framework == "onnx":
        return "onnxruntime", "onnx", "model.framework is 'onnx': onnxruntime loads it as it is"
    if framework == "sklearn":
        return (
            "onnxruntime",
            "onnx",
            "model.framework is 'sklearn': converted with skl2onnx it gives the same "
            "predictions with less per-call overhead, and no pickle has to be trusted",
        )
    if framework == "pytorch" and est.device == "gpu":
        return (
            "torch",
            "torch",
            "model.framework is 'pytorch' on a GPU: torch with CUDA runs it without an export "
            "step (ONNX for onnxruntime-gpu or TensorRT can come later)",
        )
    if framework == "pytorch":
        return (
            "onnxruntime",
            "onnx",
            "model.framework is 'pytorch' on CPU: exported with torch.onnx.export (dynamic "
            "batch axis) it runs in onnxruntime, which is smaller than torch and fast on CPU",
        )
    return (
        "onnxruntime",
        "onnx",
        f"model.framework is '{framework}': export it to ONNX (tf2onnx for TensorFlow), the "
        "portable format mlship's templates run",
    )


def _accelerator_why(answers: Answers, est: Estimate) -> str:
    hw = answers.hardware
    if hw.accelerator == "gpu" and est.device == "cpu":
        if hw.target != "server":
            return f"hardware.target is '{hw.target}': the model runs on the device's own CPU"
        return "model.framework is 'sklearn': scikit-learn models run on CPU"
    if est.device == "gpu":
        return "hardware.accelerator is 'gpu'"
    return "hardware.accelerator is 'none'"


def _packaging(pattern: Pattern, answers: Answers) -> tuple[str, str]:
    without = pattern.stack.packaging_without_kubernetes
    if without is None:
        return pattern.stack.packaging, "the same whether or not the team runs Kubernetes"
    if answers.team.kubernetes:
        return pattern.stack.packaging, "team.kubernetes is true: the cluster the team runs"
    return without, "team.kubernetes is false: packaging that needs no Kubernetes cluster"


def _batch_engine(
    pattern: Pattern, answers: Answers, est: Estimate, sizing: Sizing
) -> dict[str, StackValue]:
    """For a job with rows per run: one machine (engine local) or Ray Data, with numbers."""
    batch = batch_estimate(answers, est, sizing) if pattern.kind == "job" else None
    if batch is None:
        return {}
    window = f"latency.window_minutes {format_value(batch.window_minutes)}" + (
        " (assumed)" if batch.window_assumed else ""
    )
    need = (
        f"traffic.rows_per_run {batch.rows:,} in {window} needs about "
        f"{batch.needed_rps:,.0f} rows/s; one {sizing.batch.machine_cores}-core machine scores "
        f"about {batch.machine_rps:,.0f} rows/s"
    )
    if batch.machines == 1:
        engine, why = "local", f"{need}: one machine's process pool is enough, no cluster needed"
    else:
        engine, why = "ray", f"{need}: Ray Data across about {batch.machines} machines"
    return {
        "engine": engine,
        "engine_why": why,
        "machines": batch.machines,
        "rows_per_second_needed": round(batch.needed_rps),
        "machine_rows_per_second": round(batch.machine_rps),
    }


def suggest_stack(
    pattern: Pattern, answers: Answers, est: Estimate, sizing: Sizing
) -> dict[str, StackValue]:
    """The stack to start from for ``pattern``, with the reason for every choice."""
    serving, serving_why = _serving(pattern, answers, est, sizing)
    runtime, model_format, runtime_why = _runtime(pattern, answers, est)

    def lookup(path: str) -> object:
        return get_answer(answers, path)

    scale = next(s for s in pattern.scale_out if s.when is None or s.when.holds(lookup))
    peak = answers.traffic.peak_rps
    replicas: int | None = None
    if peak is not None and pattern.scales_by_copies:
        replicas = replicas_for(peak, est.replica_rps, sizing.throughput.headroom)
    packaging, packaging_why = _packaging(pattern, answers)
    return {
        "pattern": pattern.name,
        "serving": serving,
        "serving_why": serving_why,
        "runtime": runtime,
        "model_format": model_format,
        "runtime_why": runtime_why,
        "accelerator": est.device,
        "gpu": est.device == "gpu",
        "accelerator_why": _accelerator_why(answers, est),
        "batch_size": pattern.batch_size.gpu if est.device == "gpu" else pattern.batch_size.cpu,
        "replicas": replicas,
        "estimated_latency_ms": round(est.latency_ms, 1),
        "estimated_replica_rps": round(est.replica_rps),
        "scale_out": scale.name,
        "scale_out_how": fill_placeholders(scale.how, lookup),
        "packaging": packaging,
        "packaging_why": packaging_why,
        **_batch_engine(pattern, answers, est, sizing),
    }
