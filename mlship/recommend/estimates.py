"""Back-of-the-envelope estimates (latency, replica throughput, memory, batch machines).

They are rough on purpose: good enough to say "this cannot fit" or "plan for about six
replicas" before anything is built, and always shown with the figures behind them.
Where the model runs depends on the pattern: on the client device for a pattern that
ships the model there, on a server (reached over the network from a device) otherwise.
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
    latency_ms: float  # one request through every stage, where the model runs
    replica_rps: float  # what one replica sustains
    on_device: bool = False  # the model runs on the client device (hardware.target)
    network_ms: float = 0.0  # the device's round trip to a server, for server-side patterns


@dataclass(frozen=True)
class BatchEstimate:
    """Rows per second a run needs, what one machine scores, and how many machines."""

    rows: int
    window_minutes: float
    window_assumed: bool  # latency.window_minutes was not given
    needed_rps: float
    machine_rps: float
    machines: int


def compute_device(answers: Answers, on_device: bool = False) -> Device:
    """Where inference runs: a GPU only when one is there and the runtime can use it."""
    gpu = answers.hardware.accelerator == "gpu"
    usable = answers.model.framework != "sklearn" and not on_device
    return "gpu" if gpu and usable and answers.hardware.target == "server" else "cpu"


def estimate(answers: Answers, sizing: Sizing, on_device: bool | None = None) -> Estimate:
    """Latency and throughput of the model; ``on_device``: it runs on the client device
    (default: wherever ``hardware.target`` says)."""
    client = answers.hardware.target != "server"
    on_device = client if on_device is None else on_device
    device = compute_device(answers, on_device)
    given = answers.model.size_mb
    size = given if given is not None else sizing.latency.default_size_mb
    cost = sizing.latency.cpu if device == "cpu" else sizing.latency.gpu
    stages = answers.model.stages
    latency = cost.base_ms * stages + cost.ms_per_mb * size
    latency += sizing.latency.stage_handoff_ms * (stages - 1)
    if on_device:
        latency *= sizing.latency.device_slowdown
    tp = sizing.throughput
    if device == "cpu":
        rps = min(tp.cpu_replica_rps_cap, tp.cpu_workers_per_replica * 1000 / latency)
    else:
        rps = min(tp.gpu_replica_rps_cap, tp.gpu_batch * 1000 / latency)
    network = sizing.network.device_round_trip_ms if client and not on_device else 0.0
    return Estimate(device, size, given is None, latency, rps, on_device, network)


def batch_estimate(answers: Answers, est: Estimate, sizing: Sizing) -> BatchEstimate | None:
    """One machine or many for a run of ``traffic.rows_per_run`` rows; None if not given."""
    rows = answers.traffic.rows_per_run
    if rows is None:
        return None
    figures = sizing.batch
    window = answers.latency.window_minutes
    minutes = window if window is not None else figures.default_window_minutes
    per_mb = figures.row_ms_per_mb.cpu if est.device == "cpu" else figures.row_ms_per_mb.gpu
    row_ms = figures.row_overhead_ms * answers.model.stages + per_mb * est.size_mb
    machine_rps = figures.machine_cores * 1000 / row_ms
    needed = rows / (minutes * 60)
    machines = max(1, math.ceil(needed * (1 + sizing.throughput.headroom) / machine_rps))
    return BatchEstimate(rows, minutes, window is None, needed, machine_rps, machines)


def replicas_for(peak_rps: float, replica_rps: float, headroom: float) -> int:
    """Replicas that carry the peak with headroom to spare."""
    return max(1, math.ceil(peak_rps * (1 + headroom) / replica_rps))


def gpu_memory_needed_gb(size_mb: float, sizing: Sizing) -> float:
    """Weights plus activations and workspace, plus what CUDA itself keeps."""
    return size_mb / 1024 * sizing.gpu.activation_overhead + sizing.gpu.reserved_gb
