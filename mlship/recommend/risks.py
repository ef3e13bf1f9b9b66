"""Warnings for infeasible or risky combinations of answers and the chosen pattern.

Every warning names the answers and the numbers behind it, so that a person can check
the arithmetic instead of trusting a verdict.
"""

from __future__ import annotations

from mlship.contracts import Answers
from mlship.knowledge.fields import format_value as fv
from mlship.knowledge.patterns import Pattern
from mlship.knowledge.sizing import Sizing
from mlship.recommend.estimates import (
    Estimate,
    batch_estimate,
    gpu_memory_needed_gb,
    replicas_for,
)

# what one unit of work is called in each kind of pattern
_UNIT = {"service": "request", "consumer": "event", "job": "row", "export": "prediction"}


def _edge(answers: Answers, est: Estimate, sizing: Sizing) -> list[str]:
    """Device memory and download size, for a pattern that runs the model on the device.

    A model larger than the device's memory is not a warning: it rules the pattern out
    (``recommend.feasibility``).
    """
    hw, size = answers.hardware, answers.model.size_mb
    if not est.on_device or size is None:
        return []
    found: list[str] = []
    memory = hw.device_memory_mb
    share = sizing.device.model_memory_share
    if memory is not None and memory * share < size <= memory:
        found.append(
            f"model.size_mb {fv(size)} MiB takes more than {share:.0%} of "
            f"hardware.device_memory_mb {fv(memory)} MiB, leaving the app little room; "
            "int8 quantisation roughly quarters an fp32 model"
        )
    comfortable = sizing.device.comfortable_size_mb.get(hw.target)
    if comfortable is not None and size > comfortable:
        found.append(
            f"model.size_mb {fv(size)} MiB is large for a {hw.target} target (about "
            f"{fv(comfortable)} MiB downloads and updates comfortably): quantise or distil it"
        )
    return found


def _gpu_memory(answers: Answers, est: Estimate, sizing: Sizing) -> list[str]:
    gpu_gb, size = answers.hardware.gpu_memory_gb, answers.model.size_mb
    if est.device != "gpu" or gpu_gb is None or size is None:
        return []
    need = gpu_memory_needed_gb(size, sizing)
    if need <= gpu_gb:
        return []
    return [
        f"model.size_mb {fv(size)} MiB needs about {need:.1f} GiB on the GPU (weights x "
        f"{fv(sizing.gpu.activation_overhead)} for activations and workspace, plus "
        f"{fv(sizing.gpu.reserved_gb)} GiB for CUDA), more than hardware.gpu_memory_gb "
        f"{fv(gpu_gb)} GiB: use a larger GPU, half precision or quantisation, or shard the model"
    ]


def _latency(answers: Answers, est: Estimate, sizing: Sizing) -> list[str]:
    budget = answers.latency.p99_ms
    expected = est.latency_ms + est.network_ms
    if budget is None or expected <= budget:
        return []
    stages, size, target = answers.model.stages, est.size_mb, answers.hardware.target
    size_note = f"{fv(size)} MiB" + (
        " (assumed; model.size_mb not given)" if est.size_assumed else ""
    )
    what = f"a {stages}-stage chain" if stages > 1 else "one prediction"
    if est.on_device:
        where = f"on a {target} device's CPU"
    elif est.network_ms:
        where = (
            f"on a server {est.device.upper()} plus about {fv(est.network_ms)} ms for the "
            f"round trip from the {target} device"
        )
    else:
        where = f"on {est.device.upper()}"
    text = (
        f"latency.p99_ms {fv(budget)} is too small for {what} of a {size_note} model "
        f"{where}: expect about {expected:.0f} ms before any queueing"
    )
    if est.on_device:
        text += "; a smaller or quantised model would help"
    elif est.device == "cpu" and size >= sizing.large_model_mb:
        text += "; a GPU, a smaller model or quantisation would help"
    elif stages > 1:
        text += "; merge stages, run them on a GPU, or raise the budget"
    return [text]


def _chains_stages(pattern: Pattern) -> bool:
    """The pattern is built for models that feed each other (it refuses a single stage)."""
    return any(c.field == "model.stages" for e in pattern.excludes for c in e.when.all)


def _stages(pattern: Pattern, answers: Answers, est: Estimate) -> list[str]:
    """A multi-stage model under a pattern that serves one model: say how the stages run."""
    stages = answers.model.stages
    if stages < 2 or _chains_stages(pattern):
        return []
    unit = _UNIT.get(pattern.kind, "prediction")
    text = (
        f"model.stages is {stages} and the {pattern.name} project serves one model: run the "
        f"{stages} stages one after another in its inference core (or export them as one "
        f"ONNX graph), about {est.latency_ms:.0f} ms per {unit} for all of them on "
        f"{est.device.upper()}, and version them together"
    )
    if pattern.kind == "export":
        text += "; model.size_mb must count every stage, since all of them ship to the device"
    return [text]


def _batch(pattern: Pattern, answers: Answers, est: Estimate, sizing: Sizing) -> list[str]:
    """Rows per run over the window: when one machine is not enough, say how many."""
    if pattern.kind != "job":
        return []
    batch = batch_estimate(answers, est, sizing)
    if batch is None or batch.machines <= 1:
        return []
    window = f"latency.window_minutes {fv(batch.window_minutes)}" + (
        " (assumed; not given)" if batch.window_assumed else ""
    )
    return [
        f"traffic.rows_per_run {batch.rows:,} in {window} needs about "
        f"{batch.needed_rps:,.0f} rows/s; one {sizing.batch.machine_cores}-core machine scores "
        f"about {batch.machine_rps:,.0f} rows/s for a {fv(est.size_mb)} MiB model on "
        f"{est.device.upper()}: run the job on Ray Data (engine: ray) across about "
        f"{batch.machines} machines ({sizing.throughput.headroom:.0%} headroom), and time a "
        "sample run on one machine first"
    ]


def _replicas(pattern: Pattern, answers: Answers, est: Estimate, sizing: Sizing) -> list[str]:
    peak = answers.traffic.peak_rps
    if peak is None or not pattern.scales_by_copies:
        return []
    count = replicas_for(peak, est.replica_rps, sizing.throughput.headroom)
    if count <= 1:
        return []
    unit = (
        "consumers (and at least as many partitions)" if pattern.kind == "consumer" else "replicas"
    )
    return [
        f"traffic.peak_rps {fv(peak)} needs more than one replica (about "
        f"{est.replica_rps:.0f} rps on {est.device.upper()} for a {fv(est.size_mb)} MiB "
        f"model): plan for about {count} {unit} "
        f"with {sizing.throughput.headroom:.0%} headroom, and measure with mlship spike"
    ]


def _data(pattern: Pattern, answers: Answers) -> list[str]:
    data, found = answers.data, []
    if data.sensitivity in ("pii", "regulated") and pattern.data_exposure:
        # an audit trail must keep the inputs: they go to its store, never to the logs
        inputs = (
            "keep raw inputs only in the access-controlled audit store, never in application logs"
            if data.audit_trail
            else "log no raw inputs"
        )
        found.append(
            f"data.sensitivity is '{data.sensitivity}' and {pattern.name} ships it to "
            f"{pattern.data_exposure}: where a third party runs any of them, keep them under "
            "a data processing agreement (or inside your own network), encrypt in transit and "
            f"at rest, and {inputs}"
        )
    if data.audit_trail and pattern.audit_trail_note:
        found.append(f"data.audit_trail is true with {pattern.name}: {pattern.audit_trail_note}")
    return found


def _hardware(answers: Answers, est: Estimate) -> list[str]:
    hw, found = answers.hardware, []
    if hw.accelerator == "gpu" and answers.model.framework == "sklearn":
        found.append(
            "hardware.accelerator is 'gpu' but model.framework is 'sklearn': scikit-learn "
            "models run on CPU, so the suggestion is CPU serving"
        )
    if hw.offline and hw.target == "server":
        found.append(
            "hardware.offline is true on a server (air-gapped): the server-side patterns still "
            "apply; mirror container images, Python wheels and model artifacts into the network"
        )
    return found


def collect_warnings(
    pattern: Pattern,
    answers: Answers,
    est: Estimate,
    sizing: Sizing,
    scores: list[tuple[str, float]],
) -> list[str]:
    """Every warning for ``pattern`` chosen under ``answers``; ``scores`` is the ranking."""
    found = [
        *_edge(answers, est, sizing),
        *_gpu_memory(answers, est, sizing),
        *_latency(answers, est, sizing),
        *_stages(pattern, answers, est),
        *_replicas(pattern, answers, est, sizing),
        *_batch(pattern, answers, est, sizing),
        *_data(pattern, answers),
        *_hardware(answers, est),
    ]
    if not scores:  # nothing is feasible: the engine says so first
        return found
    (winner, best), *rest = scores
    if best < sizing.low_confidence:
        found.append(
            f"no pattern fits clearly: {winner} leads with a score of {best:.2f}; "
            "run a spike before committing to it"
        )
    if rest and rest[0][1] > 0 and best - rest[0][1] < sizing.close_call:
        found.append(
            f"close call: {winner} ({best:.2f}) and {rest[0][0]} ({rest[0][1]:.2f}) score "
            "almost alike; read both trade-offs before choosing"
        )
    return found
