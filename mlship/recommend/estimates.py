"""Back-of-the-envelope estimates (latency, replica throughput, memory) from the answers.

They are rough on purpose: good enough to say "this cannot fit" or "plan for about six
replicas" before anything is built, and always shown with the figures behind them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from mlship.contracts import Answers
from mlship.knowledge.sizing import Sizing

Device = Literal["cpu", "gpu"]


@dataclass(frozen=True)
class Estimate:
    device: Device
    size_mb: float
    size_assumed: bool  # model.size_mb was not given; a default size was used
    latency_ms: float  # one request through every stage
    replica_rps: float  # what one replica sustains


def compute_device(answers: Answers) -> Device:
    """Where inference runs: a GPU only when one is there and the runtime can use it."""
    gpu = answers.hardware.accelerator == "gpu"
    usable = answers.model.framework != "sklearn" and answers.hardware.target == "server"
    return "gpu" if gpu and usable else "cpu"


def estimate(answers: Answers, sizing: Sizing) -> Estimate:
    device = compute_device(answers)
    given = answers.model.size_mb
    size = given if given is not None else sizing.latency.default_size_mb
    cost = sizing.latency.cpu if device == "cpu" else sizing.latency.gpu
    stages = answers.model.stages
    latency = cost.base_ms * stages + cost.ms_per_mb * size
    latency += sizing.latency.stage_handoff_ms * (stages - 1)
    if answers.hardware.target != "server":
        latency *= sizing.latency.device_slowdown
    tp = sizing.throughput
    if device == "cpu":
        rps = min(tp.cpu_replica_rps_cap, tp.cpu_workers_per_replica * 1000 / latency)
    else:
        rps = min(tp.gpu_replica_rps_cap, tp.gpu_batch * 1000 / latency)
    return Estimate(device, size, given is None, latency, rps)


def replicas_for(peak_rps: float, replica_rps: float, headroom: float) -> int:
    """Replicas that carry the peak with headroom to spare."""
    return max(1, math.ceil(peak_rps * (1 + headroom) / replica_rps))


def gpu_memory_needed_gb(size_mb: float, sizing: Sizing) -> float:
    """Weights plus activations and workspace, plus what CUDA itself keeps."""
    return size_mb / 1024 * sizing.gpu.activation_overhead + sizing.gpu.reserved_gb
