"""The budget a project is held to, resolved in one place for every command.

Each criterion comes from the first of: a flag, the decision record's budget, the
record's answers, the pattern's default in the knowledge base, the global default in
``mlship/data/sizing.yaml``. ``mlship new`` writes the resolved budget into the record;
``mlship spike`` judges against it (and without a record, only against its flags).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from mlship.contracts import Answers, Budget, DecisionRecord
from mlship.knowledge.sizing import load_sizing

RECORD = "mlship.yaml"
CRITERIA = ("p99_ms", "max_error_rate", "min_rps")


@dataclass(frozen=True)
class BudgetFlags:
    """Criteria given on the command line; each overrides its own criterion only."""

    p99_ms: float | None = None
    max_error_rate: float | None = None
    min_rps: float | None = None


@dataclass(frozen=True)
class ResolvedBudget:
    """The budget and, for each criterion, where it came from."""

    budget: Budget
    source: dict[str, str] = field(default_factory=dict)


def budget_from_answers(answers: Answers) -> Budget:
    """What the questionnaire's answers say about the budget (recorded by ``--save``)."""
    return Budget(
        p99_ms=answers.latency.p99_ms,
        max_error_rate=load_sizing().budget.max_error_rate,
        min_rps=answers.traffic.peak_rps,
    )


def resolve_budget(
    flags: BudgetFlags,
    record: DecisionRecord | None,
    pattern_p99_ms: float | None = None,
    *,
    defaults: Collection[str] = CRITERIA,
) -> ResolvedBudget:
    """Flags, then the record's budget, then its answers, then the defaults of ``defaults``.

    ``mlship new`` fills every criterion; ``mlship spike`` judges only what a flag or the
    record states (and the global error budget when a record exists), never a p99 nobody set.
    """
    stored = record.budget if record is not None else Budget()
    answers = record.answers if record is not None else None
    answered = budget_from_answers(answers) if answers is not None else Budget()
    sizing = load_sizing().budget
    fallback = Budget(p99_ms=pattern_p99_ms or sizing.p99_ms, max_error_rate=sizing.max_error_rate)
    chosen: dict[str, float | None] = {}
    source: dict[str, str] = {}
    for name in CRITERIA:
        candidates = [("flag", getattr(flags, name)), (RECORD, getattr(stored, name))]
        if name != "max_error_rate":  # the answers hold no error budget
            candidates.append((f"{RECORD} answers", getattr(answered, name)))
        if name in defaults:
            candidates.append(("default", getattr(fallback, name)))
        chosen[name] = next((value for _, value in candidates if value is not None), None)
        found = next((where for where, value in candidates if value is not None), None)
        if found is not None:
            source[name] = found
    return ResolvedBudget(Budget(**chosen), source)
