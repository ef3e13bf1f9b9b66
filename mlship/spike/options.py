"""The spike command's options, as given: every runner reads the ones it understands."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path


@dataclass(frozen=True)
class SpikeOptions:
    """The options of ``mlship spike``, unchecked (the CLI passes them through as given)."""

    target: str = "."
    path: str | None = None
    users: int | None = None
    spawn_rate: float | None = None
    rate: float | None = None
    duration: str | None = None
    arrivals: str = "uniform"
    find_capacity: bool = False
    start_rate: float | None = None
    max_rate: float | None = None
    step_duration: str | None = None
    max_search_time: str | None = None
    workers: int = 1
    timeout: str | None = None
    max_outstanding: int = 1000
    late_threshold_ms: float = 20.0
    payloads: Path | None = None
    invalid_share: float = 0.0
    rows: int = 1
    input_rows: int | None = None
    p99_ms: float | None = None
    max_error_rate: float | None = None
    min_rps: float | None = None
    max_memory_mb: float | None = None
    max_model_mb: float | None = None
    max_lag: int | None = None
    out: Path | None = None
    ready_timeout: str | None = None
    serve_command: str | None = None
    bootstrap: str | None = None
    device_factor: float | None = None

    def given(self) -> set[str]:
        """The options that differ from their defaults (what the user asked for)."""
        default = SpikeOptions()
        return {
            f.name
            for f in fields(self)
            if f.name != "target" and getattr(self, f.name) != getattr(default, f.name)
        }


FLAGS = {
    "path": "--path",
    "users": "--users",
    "spawn_rate": "--spawn-rate",
    "rate": "--rate",
    "duration": "--duration",
    "arrivals": "--arrivals",
    "find_capacity": "--find-capacity",
    "start_rate": "--start-rate",
    "max_rate": "--max-rate",
    "step_duration": "--step-duration",
    "max_search_time": "--max-search-time",
    "workers": "--workers",
    "timeout": "--timeout",
    "max_outstanding": "--max-outstanding",
    "late_threshold_ms": "--late-threshold-ms",
    "payloads": "--payloads",
    "invalid_share": "--invalid-share",
    "rows": "--rows",
    "input_rows": "--input-rows",
    "ready_timeout": "--ready-timeout",
    "serve_command": "--serve-command",
    "bootstrap": "--bootstrap",
    "device_factor": "--device-factor",
}
