"""The decision record of one recommendation: answers, ranking, winner and budget.

``--save`` over an existing record merges instead of replacing it: the new decision
(answers, ranking, reasons, warnings, stack) comes in, and every budget criterion the
person edited by hand stays as they left it, since the record's own header invites them
to edit the budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mlship.contracts import Answers, Budget, DecisionRecord, Recommendation
from mlship.errors import InputError
from mlship.knowledge.budget import ALL_CRITERIA, BudgetFlags, budget_from_answers, resolve_budget
from mlship.knowledge.fields import format_value
from mlship.knowledge.patterns import Pattern
from mlship.version import __version__

# what a recommendation decides; the rest of a record belongs to its project
DECISION_FIELDS = (
    "mlship_version",
    "pattern",
    "answers",
    "reasons",
    "ranking",
    "warnings",
    "stack",
)
OVERWRITE_HINT = "write it elsewhere with --save-to FILE, or replace it with --overwrite"


def build_decision_record(answers: Answers, recommendation: Recommendation) -> DecisionRecord:
    """What ``mlship recommend --save`` writes; ``mlship new --from`` starts from it."""
    winner = next(r for r in recommendation.ranking if r.pattern == recommendation.pattern)
    return DecisionRecord(
        mlship_version=__version__,
        pattern=recommendation.pattern,
        answers=answers,
        reasons=list(winner.reasons),
        ranking=list(recommendation.ranking),
        warnings=list(recommendation.warnings),
        stack=dict(recommendation.stack),
        budget=budget_from_answers(answers),
    )


@dataclass
class Merged:
    """The record to write over an existing one, and what was kept from it."""

    record: DecisionRecord
    kept: list[str] = field(default_factory=list)


def _derived_budget(record: DecisionRecord, pattern: Pattern | None) -> Budget:
    """The budget mlship itself would have written into ``record`` (no hand edits).

    ``recommend --save`` writes what the answers say; ``mlship new`` (a record with a
    ``project`` block) fills what they leave open with the pattern's and global defaults.
    """
    if not record.project:
        return budget_from_answers(record.answers) if record.answers else Budget()
    blank = record.model_copy(update={"budget": Budget()})
    return resolve_budget(BudgetFlags(), blank, pattern=pattern).budget


def merge_decision_records(
    existing: DecisionRecord,
    fresh: DecisionRecord,
    path: Path,
    patterns: dict[str, Pattern],
) -> Merged:
    """``fresh`` written over ``existing``: new decision, hand-edited budget kept.

    A record that belongs to a generated project (``mlship new`` wrote its ``project``
    block) is not switched to another pattern: the project would then disagree with it.
    ``patterns`` is the knowledge base by name (for the defaults ``mlship new`` fills in).
    """
    if existing.project and existing.pattern != fresh.pattern:
        name = existing.project.get("name") or "a generated project"
        raise InputError(
            f"save: {path} is the decision record of the {existing.pattern} project {name}; "
            f"the new recommendation is {fresh.pattern}, and merging it would leave the "
            "project and its record disagreeing",
            hint=OVERWRITE_HINT,
        )
    untouched = _derived_budget(existing, patterns.get(existing.pattern))
    if existing.project:
        blank = fresh.model_copy(update={"project": existing.project, "budget": Budget()})
        proposed = resolve_budget(BudgetFlags(), blank, pattern=patterns.get(fresh.pattern))
        new_budget = proposed.budget
    else:
        new_budget = fresh.budget
    chosen: dict[str, float | int | None] = {}
    kept: list[str] = []
    for name in ALL_CRITERIA:
        stored, derived, new = (getattr(b, name) for b in (existing.budget, untouched, new_budget))
        if stored != derived:  # the person changed it: theirs wins
            chosen[name] = stored
            if stored != new:
                kept.append(
                    f"budget.{name} {format_value(stored)} kept (edited by hand; the new "
                    f"answers give {format_value(new)})"
                )
        else:
            chosen[name] = new
    # the decision is new; everything else the record holds (the project it belongs to,
    # its template, the check policy and its waivers, ...) stays as it was
    decision = {name: getattr(fresh, name) for name in DECISION_FIELDS}
    budget = Budget.model_validate(chosen)
    record = existing.model_copy(update={**decision, "budget": budget})
    return Merged(DecisionRecord.model_validate(record.model_dump()), kept)
