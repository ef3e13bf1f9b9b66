"""What a spike report measured, criterion by criterion, for every pattern.

A report is ``spikes/<time>/result.json`` as ``mlship spike`` writes it (schema 2; the
services-only schema 1 still reads). It is read as plain JSON: the check never imports
the spike wing. Where each criterion's figure sits depends on the report's ``kind``:

- ``service`` (online, chained): ``stats`` — p99 and error rate of the requests; the
  throughput is the capacity search's sustainable rate, else the sustained rate;
- ``consumer`` (streaming): the same ``stats``, end to end per event, and the consumer
  lag left at the end (``stream.end_lag``);
- ``job`` (batch): ``batch`` — the job's own rows/s, its reject rate beyond the planted
  bad rows, its peak memory; and, for the message, how long a run of its rows would take
  in its window;
- ``export`` (edge): the shipped variant of ``edge`` — the device p99 of a single-row
  call, the model file's size, the memory the model took.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlship.knowledge.budget import RPS_SLACK

# criterion -> (words, unit, at least instead of at most)
CRITERIA: dict[str, tuple[str, str, bool]] = {
    "p99_ms": ("p99", "ms", False),
    "max_error_rate": ("error rate", "", False),
    "min_rps": ("throughput", "/s", True),
    "max_memory_mb": ("peak memory", "MiB", False),
    "max_model_mb": ("model file", "MiB", False),
    "max_lag": ("consumer lag at the end", "events", False),
}


@dataclass(frozen=True)
class Report:
    rel: str
    data: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.data.get("kind") or "service")

    @property
    def interrupted(self) -> bool:
        return bool(self.data.get("interrupted"))


def _get(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _shipped(edge: dict[str, Any]) -> dict[str, Any]:
    variants = [v for v in edge.get("variants") or [] if isinstance(v, dict)]
    chosen = next((v for v in variants if v.get("shipped")), None)
    chosen = chosen or next((v for v in variants if v.get("name") == edge.get("shipped")), None)
    return chosen or (variants[0] if variants else {})


def _single_call_p99(variant: dict[str, Any]) -> Any:
    cases = [c for c in variant.get("cases") or [] if isinstance(c, dict)]
    single = next((c for c in cases if c.get("rows") == 1), cases[0] if cases else {})
    return single.get("device_p99_ms")


def measured(report: Report) -> dict[str, float | None]:
    """Each criterion's measured figure (None: the report has none for it)."""
    data = report.data
    if report.kind == "job":
        batch = data.get("batch") or {}
        figures = {
            "min_rps": batch.get("rows_per_s"),
            "max_memory_mb": batch.get("peak_memory_mb"),
            "max_error_rate": batch.get("error_rate"),
        }
    elif report.kind == "export":
        variant = _shipped(data.get("edge") or {})
        figures = {
            "p99_ms": _single_call_p99(variant),
            "max_model_mb": variant.get("size_mb"),
            "max_memory_mb": variant.get("memory_mb"),
        }
    else:
        stats = data.get("stats") or {}
        capacity = data.get("capacity")
        rate = (
            _get(capacity, "sustainable_rps")
            if isinstance(capacity, dict)
            else stats.get("sustained_rps")
        )
        figures = {
            "p99_ms": _get(stats, "latency_ms", "p99"),
            "max_error_rate": stats.get("error_rate"),
            "min_rps": rate,
            "max_lag": _get(data, "stream", "end_lag"),
        }
    return {name: _number(value) for name, value in figures.items()}


def _unit(name: str, report: Report) -> str:
    unit = CRITERIA[name][1]
    if name == "min_rps":
        noun = {"job": "rows", "consumer": "events", "export": "rows"}.get(report.kind, "req")
        return f"{noun}{unit}"
    return unit


def _figure(value: float | None, unit: str) -> str:
    return "none" if value is None else f"{value:g} {unit}".rstrip()


def misses(report: Report, budget: dict[str, float | None]) -> list[str]:
    """The criteria of ``budget`` (name -> limit, None: not stated) the report misses."""
    found = measured(report)
    missed = []
    for name, limit in budget.items():
        if limit is None or name not in CRITERIA:
            continue
        words, _, at_least = CRITERIA[name]
        unit = _unit(name, report)
        value = found.get(name)
        if at_least:
            ok = value is not None and value >= limit * (1 - RPS_SLACK)
            sign = "<"
        else:
            ok = value is not None and value <= limit
            sign = ">"
        if not ok:
            text = f"{words} {_figure(value, unit)} {sign} {_figure(limit, unit)}"
            if name == "min_rps" and report.kind == "job":
                text += _window(report)
            missed.append(text)
    return missed


def _window(report: Report) -> str:
    batch = report.data.get("batch") or {}
    run, window = _number(batch.get("projected_run_s")), _number(batch.get("window_s"))
    if run is None or window is None:
        return ""
    return f" (a run of its rows would take {run / 60:.1f} min of the {window / 60:g} min window)"
