"""What every kind of spike hands back: the figures of its load, before the verdict."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from mlship.spike.result import (
    BatchStats,
    BudgetUsed,
    Capacity,
    Criterion,
    EdgeStats,
    Profile,
    Stats,
    StreamStats,
    Target,
)

Progress = Callable[[dict[str, Any]], None]


@dataclass
class Outcome:
    """One load's figures and criteria; the session adds the verdict and saves it."""

    target: Target
    profile: Profile
    criteria: list[Criterion]
    notes: list[str]
    artifacts: dict[str, str]
    stats: Stats | None = None
    batch: BatchStats | None = None
    stream: StreamStats | None = None
    edge: EdgeStats | None = None
    capacity: Capacity | None = None
    interrupted: bool = False


class Spike(Protocol):
    """A checked plan for one kind of load; ``execute`` runs it into ``run_dir``."""

    @property
    def budget(self) -> BudgetUsed: ...

    def execute(self, run_dir: Path, progress: Progress | None) -> Outcome: ...
