"""The decision engine: ``(Answers, [Pattern]) -> Recommendation``, pure and deterministic.

Hard constraints (a pattern's ``excludes``) take patterns out with a stated reason; soft
rules add their weights to a pattern's base score, clipped to [0, 1]; ties go to the
pattern with the lower ``order`` in the knowledge base. Nothing here reads files, prints or exits
(the sizing figures are loaded once from shipped data unless passed in).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from mlship.contracts import (
    Answers,
    ExcludedPattern,
    RankedPattern,
    Recommendation,
)
from mlship.errors import KnowledgeBaseError
from mlship.knowledge.conditions import fill_placeholders
from mlship.knowledge.fields import format_value, get_answer
from mlship.knowledge.patterns import Pattern
from mlship.knowledge.sizing import Sizing, load_sizing
from mlship.recommend.estimates import estimate
from mlship.recommend.risks import collect_warnings
from mlship.recommend.stack import StackValue, suggest_stack


@dataclass
class Scored:
    """One pattern's verdict before it becomes part of the Recommendation."""

    pattern: Pattern
    score: float = 0.0
    reasons: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)


def score_pattern(pattern: Pattern, answers: Answers) -> Scored:
    """Apply one pattern's exclusions and rules to the answers."""

    def lookup(path: str) -> Any:
        return get_answer(answers, path)

    result = Scored(pattern)
    result.excluded = [
        fill_placeholders(e.why, lookup) for e in pattern.excludes if e.when.holds(lookup)
    ]
    if result.excluded:
        result.reasons = [f"excluded: {why}" for why in result.excluded]
        return result
    fired = [rule for rule in pattern.rules if rule.when.holds(lookup)]
    fired.sort(key=lambda rule: -abs(rule.weight))  # stable: file order breaks ties
    total = pattern.base_score + sum(rule.weight for rule in fired)
    result.score = round(min(1.0, max(0.0, total)), 3)
    result.reasons = [f"{r.weight:+.2f} {fill_placeholders(r.reason, lookup)}" for r in fired]
    if not result.reasons:
        result.reasons = [
            f"no answer spoke for or against it; it keeps its base score {pattern.base_score:.2f}"
        ]
    return result


def _check_patterns(patterns: list[Pattern]) -> None:
    names = [p.name for p in patterns]
    if not names or len(set(names)) != len(names):
        raise KnowledgeBaseError(
            f"the engine needs each pattern exactly once; got {', '.join(names) or 'none'}"
        )


def next_command(
    stack: dict[str, StackValue],
    answers: Answers,
    *,
    directory: str | None = None,
    decision_file: str | None = None,
) -> str:
    """The exact ``mlship new`` command that scaffolds the recommended project."""
    pattern = str(stack["pattern"])
    words = ["mlship", "new", pattern, directory or f"./my-{pattern}-project"]
    if decision_file is not None:
        words += ["--from", decision_file]
        return shlex.join(words)
    p99 = answers.latency.p99_ms
    if p99 is not None:
        words += ["--p99-ms", format_value(p99)]
    words += ["--model-format", str(stack["model_format"])]
    if stack["gpu"]:
        words.append("--gpu")
    return shlex.join(words)


def recommend(
    answers: Answers, patterns: list[Pattern], sizing: Sizing | None = None
) -> Recommendation:
    """Rank every pattern of the knowledge base for ``answers`` and explain the winner."""
    _check_patterns(patterns)
    sizing = sizing or load_sizing()
    scored = [score_pattern(p, answers) for p in patterns]
    scored.sort(key=lambda s: (bool(s.excluded), -s.score, s.pattern.order))
    winner = scored[0]
    if winner.excluded:  # Answers' own validation should make this unreachable
        raise KnowledgeBaseError(
            "every pattern is excluded by the answers: " + "; ".join(s.excluded[0] for s in scored)
        )
    est = estimate(answers, sizing)
    stack = suggest_stack(winner.pattern, answers, est, sizing)
    ranking = [s for s in scored if not s.excluded]
    warnings = collect_warnings(
        winner.pattern, answers, est, sizing, [(s.pattern.name, s.score) for s in ranking]
    )
    return Recommendation(
        pattern=winner.pattern.name,
        ranking=[
            RankedPattern(pattern=s.pattern.name, score=s.score, reasons=s.reasons) for s in scored
        ],
        excluded=[
            ExcludedPattern(pattern=s.pattern.name, why="; ".join(s.excluded))
            for s in scored
            if s.excluded
        ],
        warnings=warnings,
        stack=stack,
        next=next_command(stack, answers),
    )
