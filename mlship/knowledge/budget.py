"""The budget a project is held to, resolved in one place for every command.

Each criterion comes from the first of: a flag, the decision record's budget, the
record's answers, the pattern's default in the knowledge base, the global default in
``mlship/data/sizing.yaml``. ``mlship new`` writes the resolved budget into the record;
``mlship spike`` judges against it (and without a record, only against its flags).

Which criteria a pattern's budget has is a fact of the knowledge base
(``spike.criteria`` in ``patterns/<name>.yaml``); without a pattern the budget is the
service one: p99, error rate, throughput.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from mlship.contracts import Answers, Budget, DecisionRecord
from mlship.knowledge.patterns import Pattern
from mlship.knowledge.sizing import load_sizing

RECORD = "mlship.yaml"
# a throughput floor is met within this share: counting at the edges of the measuring
# window is +-1 request in 50 (spike's verdict and check's budget.spike both allow it)
RPS_SLACK = 0.02
SERVICE_CRITERIA = ("p99_ms", "max_error_rate", "min_rps")
ALL_CRITERIA = (*SERVICE_CRITERIA, "max_memory_mb", "max_model_mb", "max_lag")


@dataclass(frozen=True)
class BudgetFlags:
    """Criteria given on the command line; each overrides its own criterion only."""

    p99_ms: float | None = None
    max_error_rate: float | None = None
    min_rps: float | None = None
    max_memory_mb: float | None = None
    max_model_mb: float | None = None
    max_lag: int | None = None


@dataclass(frozen=True)
class ResolvedBudget:
    """The budget and, for each criterion, where it came from."""

    budget: Budget
    source: dict[str, str] = field(default_factory=dict)


def _batch_rate(answers: Answers) -> float | None:
    """Rows per second a batch run needs: rows per run over the batch window.

    Read leniently: the two answers belong to the questionnaire, which may not ask them.
    """
    rows = getattr(answers.traffic, "rows_per_run", None)
    minutes = getattr(answers.latency, "window_minutes", None)
    if not rows or not minutes:
        return None
    return float(rows) / (float(minutes) * 60.0)


def budget_from_answers(answers: Answers, pattern: Pattern | None = None) -> Budget:
    """What the questionnaire's answers say about the budget (recorded by ``--save``).

    For a job the throughput floor is the rate a run needs to finish within its window;
    for an export the device's memory bounds the model's memory and size.
    """
    kind = pattern.kind if pattern is not None else None
    min_rps = answers.traffic.peak_rps
    if kind == "job" or (kind is None and answers.traffic.arrival == "datasets"):
        min_rps = _batch_rate(answers) or (min_rps if kind is None else None)
    memory = model = None
    if kind == "export":
        device = load_sizing().device
        if answers.hardware.device_memory_mb is not None:
            memory = answers.hardware.device_memory_mb * device.model_memory_share
        model = comfortable_model_mb(answers.hardware.target)
    return Budget(
        p99_ms=answers.latency.p99_ms,
        max_error_rate=load_sizing().budget.max_error_rate,
        min_rps=min_rps,
        max_memory_mb=memory,
        max_model_mb=model,
    )


def comfortable_model_mb(target: str) -> float | None:
    """The model size a device target downloads and holds comfortably (sizing.yaml)."""
    return load_sizing().device.comfortable_size_mb.get(target)


def criteria_of(pattern: Pattern | None) -> tuple[str, ...]:
    """The criteria a pattern's budget has (the service ones without a pattern)."""
    return tuple(pattern.spike.criteria) if pattern is not None else SERVICE_CRITERIA


def _pattern_default(pattern: Pattern | None, name: str) -> float | None:
    if pattern is None:
        return None
    if name == "p99_ms" and pattern.default_p99_ms is not None:
        return pattern.default_p99_ms
    value = pattern.spike.defaults.get(name)  # type: ignore[call-overload]
    return None if value is None else float(value)


def resolve_budget(
    flags: BudgetFlags,
    record: DecisionRecord | None,
    pattern_p99_ms: float | None = None,
    *,
    defaults: Collection[str] = ALL_CRITERIA,
    pattern: Pattern | None = None,
    criteria: tuple[str, ...] | None = None,
) -> ResolvedBudget:
    """Flags, then the record's budget, then its answers, then the defaults of ``defaults``.

    ``criteria`` limits the budget to those names; by default they are the pattern's
    (``spike.criteria``: a batch job's budget has no p99), the service ones without a
    pattern.
    ``mlship new`` fills every criterion; ``mlship spike`` judges only what a flag or the
    record states, plus the defaults it names (never a p99 nobody set).
    """
    stored = record.budget if record is not None else Budget()
    answers = record.answers if record is not None else None
    answered = budget_from_answers(answers, pattern) if answers is not None else Budget()
    sizing = load_sizing().budget
    wanted = criteria or criteria_of(pattern)
    chosen: dict[str, float | int | None] = {}
    source: dict[str, str] = {}
    for name in wanted:
        candidates: list[tuple[str, float | int | None]] = [
            ("flag", getattr(flags, name)),
            (RECORD, getattr(stored, name)),
        ]
        if name != "max_error_rate":  # the answers hold no error budget
            candidates.append((f"{RECORD} answers", getattr(answered, name)))
        if name in defaults:
            if name == "p99_ms":
                fallback = pattern_p99_ms or _pattern_default(pattern, name) or sizing.p99_ms
                candidates.append(("default", fallback))
            elif name == "max_error_rate":
                candidates.append(("default", sizing.max_error_rate))
            else:
                candidates.append(("default", _pattern_default(pattern, name)))
        for where, value in candidates:
            if value is not None:
                chosen[name] = int(value) if name == "max_lag" else value
                source[name] = where
                break
    return ResolvedBudget(Budget.model_validate(chosen), source)
