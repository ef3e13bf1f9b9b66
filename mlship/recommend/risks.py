"""Warnings for infeasible or risky combinations of answers and the chosen pattern.

Every warning names the answers and the numbers behind it, so that a person can check
the arithmetic instead of trusting a verdict.
"""

from __future__ import annotations

from mlship.contracts import Answers
from mlship.knowledge.fields import format_value as fv
from mlship.knowledge.patterns import Pattern
from mlship.knowledge.sizing import Sizing
from mlship.recommend.estimates import Estimate, gpu_memory_needed_gb, replicas_for


def _edge(answers: Answers, est: Estimate, sizing: Sizing) -> list[str]:
    hw, size = answers.hardware, answers.model.size_mb
    if hw.target == "server" or size is None:
        return []
    found: list[str] = []
    memory = hw.device_memory_mb
    share = sizing.device.model_memory_share
    if memory is not None and size > memory:
        found.append(
            f"model.size_mb {fv(size)} MiB is larger than hardware.device_memory_mb "
            f"{fv(memory)} MiB: the model cannot even be loaded on the device; quantise, "
            "prune or distil it, or run it on a server"
        )
    elif memory is not None and size > memory * share:
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
    if budget is None or est.latency_ms <= budget:
        return []
    stages, size = answers.model.stages, est.size_mb
    size_note = f"{fv(size)} MiB" + (
        " (assumed; model.size_mb not given)" if est.size_assumed else ""
    )
    where = f"on a {answers.hardware.target} " if answers.hardware.target != "server" else "on "
    what = f"a {stages}-stage chain" if stages > 1 else "one prediction"
    found = [
        f"latency.p99_ms {fv(budget)} is too small for {what} of a {size_note} model "
        f"{where}{est.device.upper()}: expect about {est.latency_ms:.0f} ms before any queueing "
        "or network time"
    ]
    if est.device == "cpu" and size >= sizing.large_model_mb:
        found[0] += "; a GPU, a smaller model or quantisation would help"
    elif stages > 1:
        found[0] += "; merge stages, run them on a GPU, or raise the budget"
    return found


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
        found.append(
            f"data.sensitivity is '{data.sensitivity}' and {pattern.name} ships it to "
            f"{pattern.data_exposure}: where a third party runs any of them, keep them under "
            "a data processing agreement (or inside your own network), encrypt in transit and "
            "at rest, and log no raw inputs"
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
        *_replicas(pattern, answers, est, sizing),
        *_data(pattern, answers),
        *_hardware(answers, est),
    ]
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
