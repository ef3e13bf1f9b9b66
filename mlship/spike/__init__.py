"""Load-test spikes: honest tail latency, judged against the project's budget.

``run_spike(SpikeOptions(...))`` checks the options, starts the project's service if
asked, drives locust in a subprocess, and returns a :class:`SpikeResult` (also saved
under ``spikes/<timestamp>/``). Names are resolved lazily so that importing a submodule
(the locustfile does) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["SpikeOptions", "SpikeResult", "compare_paths", "run_spike"]

if TYPE_CHECKING:  # pragma: no cover
    from mlship.spike.compare import compare_paths
    from mlship.spike.result import SpikeResult
    from mlship.spike.session import SpikeOptions, run_spike

_LAZY = {
    "SpikeOptions": "mlship.spike.session",
    "run_spike": "mlship.spike.session",
    "SpikeResult": "mlship.spike.result",
    "compare_paths": "mlship.spike.compare",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mlship.spike' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
