"""Load profiles: what shape of traffic a spike sends, and for how long.

Three shapes answer different questions. The closed model (N users, each waiting for
its answer before the next request) is what most load tools do; it hides queueing
because slow responses slow the senders down. The open model sends on a fixed
schedule whatever the service does, which is how independent clients behave. The
capacity search steps the open model's rate up to find the highest rate that still
meets the budget.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from mlship.errors import InputError

Arrivals = Literal["uniform", "poisson"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}

# Every load loop is bounded: nothing runs longer than this, whatever the flags say.
MAX_DURATION_S = 3600.0


def parse_duration(text: str | float | int, field: str = "--duration") -> float:
    """Seconds from ``30``, ``30s``, ``2m``, ``500ms`` or ``1h``; positive and bounded."""
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        match = _DURATION.match(text)
        if not match:
            raise InputError(
                f"{field}: {text!r} is not a duration",
                hint="write a number of seconds or a number with a unit: 30, 30s, 2m, 500ms",
            )
        seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
    if not seconds > 0:
        raise InputError(f"{field}: {text!r} must be longer than zero")
    if seconds > MAX_DURATION_S:
        raise InputError(f"{field}: {text!r} is longer than the limit of {MAX_DURATION_S:.0f} s")
    return seconds


def positive(value: float | None, field: str) -> None:
    """Reject zero, negative and non-finite numbers with the flag named."""
    if value is None:
        return
    if not (value > 0 and value < float("inf")):
        raise InputError(f"{field}: {value!r} must be a positive number")


@dataclass(frozen=True)
class ClosedProfile:
    """N users in a loop, each sending its next request when the last one answered."""

    users: int
    spawn_rate: float
    duration_s: float
    kind: Literal["closed"] = "closed"


@dataclass(frozen=True)
class OpenProfile:
    """Requests sent on a fixed schedule at ``rate`` per second, answered or not."""

    rate: float
    duration_s: float
    arrivals: Arrivals = "uniform"
    kind: Literal["open"] = "open"


@dataclass(frozen=True)
class CapacityProfile:
    """Open-model steps of ``step_s`` each, from ``start_rate`` up, within ``max_time_s``."""

    start_rate: float
    max_rate: float
    step_s: float
    max_time_s: float
    resolution: float = 0.1
    arrivals: Arrivals = "uniform"
    kind: Literal["capacity"] = "capacity"


Profile = ClosedProfile | OpenProfile | CapacityProfile


@dataclass(frozen=True)
class ClientSettings:
    """How the load generator behaves, whatever the profile."""

    timeout_s: float = 5.0
    workers: int = 1
    max_outstanding: int = 1000
    late_threshold_ms: float = 20.0


def build_profile(
    *,
    users: int | None,
    spawn_rate: float | None,
    rate: float | None,
    duration: str | None,
    find_capacity: bool,
    start_rate: float | None,
    max_rate: float | None,
    step_duration: str | None,
    max_search_time: str | None,
    arrivals: str,
    default_rate: float | None,
) -> Profile:
    """Check the flags together and pick one profile; ``default_rate`` is the budget's target."""
    if arrivals not in ("uniform", "poisson"):
        raise InputError(f"--arrivals: {arrivals!r} is not one of uniform, poisson")
    arrival_kind: Arrivals = "poisson" if arrivals == "poisson" else "uniform"
    if users is not None and users <= 0:
        raise InputError(f"--users: {users!r} must be a positive number")
    positive(spawn_rate, "--spawn-rate")
    positive(rate, "--rate")
    positive(start_rate, "--start-rate")
    positive(max_rate, "--max-rate")
    if find_capacity:
        if rate is not None or users is not None:
            raise InputError("--find-capacity chooses the rates itself: drop --rate and --users")
        start = start_rate or 10.0
        top = max_rate or 100_000.0
        if top <= start:
            raise InputError(f"--max-rate: {top} must be above --start-rate {start}")
        return CapacityProfile(
            start_rate=start,
            max_rate=top,
            step_s=parse_duration(step_duration or "3s", "--step-duration"),
            max_time_s=parse_duration(max_search_time or "3m", "--max-search-time"),
            arrivals=arrival_kind,
        )
    seconds = parse_duration(duration if duration is not None else "30s")
    if rate is not None and users is not None:
        raise InputError(
            "--rate and --users describe different load models: give one",
            hint="--rate sends on a schedule (open model); --users loops N clients (closed)",
        )
    if rate is not None:
        return OpenProfile(rate=rate, duration_s=seconds, arrivals=arrival_kind)
    if users is None and default_rate is not None:
        return OpenProfile(rate=default_rate, duration_s=seconds, arrivals=arrival_kind)
    n = users or 10
    return ClosedProfile(users=n, spawn_rate=spawn_rate or float(n), duration_s=seconds)


def build_client(
    *, timeout: str | None, workers: int, max_outstanding: int, late_threshold_ms: float
) -> ClientSettings:
    """Check the generator's own settings."""
    if workers < 1:
        raise InputError(f"--workers: {workers!r} must be 1 or more")
    if max_outstanding < 1:
        raise InputError(f"--max-outstanding: {max_outstanding!r} must be 1 or more")
    positive(late_threshold_ms, "--late-threshold-ms")
    return ClientSettings(
        timeout_s=parse_duration(timeout or "5s", "--timeout"),
        workers=workers,
        max_outstanding=max_outstanding,
        late_threshold_ms=late_threshold_ms,
    )


def describe(profile: Profile) -> str:
    """One line a person reads in the report."""
    if isinstance(profile, ClosedProfile):
        return (
            f"closed model: {profile.users} users (spawn {profile.spawn_rate:g}/s) "
            f"for {profile.duration_s:g} s"
        )
    if isinstance(profile, OpenProfile):
        return (
            f"open model: {profile.rate:g} req/s ({profile.arrivals} arrivals) "
            f"for {profile.duration_s:g} s"
        )
    return (
        f"capacity search: open model from {profile.start_rate:g} req/s, steps of "
        f"{profile.step_s:g} s, at most {profile.max_time_s:g} s in all"
    )
