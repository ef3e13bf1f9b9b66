"""The decision record of one recommendation: answers, ranking, winner and budget."""

from __future__ import annotations

from mlship.contracts import Answers, DecisionRecord, Recommendation
from mlship.knowledge.budget import budget_from_answers
from mlship.version import __version__


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
