"""Hard limits that take arithmetic: a pattern that cannot work is ruled out, with the why.

The patterns' own ``excludes`` (in their YAML) compare answers with constants; the limits
here compare answers with each other and with the figures in ``mlship/data/sizing.yaml``:
a model larger than the device's memory cannot run on the device, and a latency budget
below one network round trip cannot be met by any pattern that serves the model from a
server. Each limit names the answers it depends on, so that when nothing is left the
recommendation can say which constraint to relax.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlship.contracts import Answers
from mlship.knowledge.fields import format_value as fv
from mlship.knowledge.patterns import Pattern
from mlship.knowledge.sizing import Sizing


@dataclass(frozen=True)
class Cause:
    """Why a pattern is out, and the answers that would have to change to bring it back."""

    why: str
    fields: tuple[str, ...]


def _device_fit(answers: Answers) -> Cause | None:
    size, memory = answers.model.size_mb, answers.hardware.device_memory_mb
    if size is None or memory is None or size <= memory:
        return None
    return Cause(
        f"model.size_mb {fv(size)} MiB is larger than hardware.device_memory_mb "
        f"{fv(memory)} MiB: the model cannot be loaded on the device",
        ("model.size_mb", "hardware.device_memory_mb"),
    )


def _round_trip(answers: Answers, sizing: Sizing) -> Cause | None:
    budget = answers.latency.p99_ms
    if budget is None:
        return None
    target = answers.hardware.target
    if target == "server":
        floor = sizing.network.server_round_trip_ms
        where = "a call from another service in the same data centre"
    else:
        floor = sizing.network.device_round_trip_ms
        where = f"a request from a {target} device to a server and back"
    if budget >= floor:
        return None
    return Cause(
        f"latency.p99_ms {fv(budget)} is below {where} (about {fv(floor)} ms at best, "
        f"with hardware.target '{target}'): no server-side pattern can answer in time",
        ("latency.p99_ms",),  # a device is further from a server, never closer
    )


def hard_limits(pattern: Pattern, answers: Answers, sizing: Sizing) -> list[Cause]:
    """The limits that rule ``pattern`` out under ``answers`` (empty: none)."""
    found = []
    if pattern.kind == "export":
        found.append(_device_fit(answers))
    else:
        found.append(_round_trip(answers, sizing))
    return [cause for cause in found if cause is not None]
