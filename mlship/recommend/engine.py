"""The decision engine: ``(Answers, [Pattern]) -> Recommendation``, pure and deterministic.

Hard constraints (a pattern's ``excludes``, and the arithmetic limits of
``recommend.feasibility``) take patterns out with a stated reason; soft rules add their
weights to a pattern's base score, clipped to [0, 1]; ties go to the pattern with the lower
``order`` in the knowledge base. When every pattern is out, the recommendation says so,
names the closest pattern and the constraints to relax. Nothing here reads files, prints
or exits (the sizing figures are loaded once from shipped data unless passed in).
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
from mlship.recommend.feasibility import Cause, hard_limits
from mlship.recommend.risks import collect_warnings
from mlship.recommend.stack import StackValue, suggest_stack

RELAX_NEXT = "relax one of the constraints in relax, then run mlship recommend again"


@dataclass
class Scored:
    """One pattern's verdict before it becomes part of the Recommendation.

    ``potential`` is the score the rules give even when the pattern is excluded (``score``
    is then 0): it decides which pattern is closest when nothing is feasible.
    """

    pattern: Pattern
    score: float = 0.0
    reasons: list[str] = field(default_factory=list)
    causes: list[Cause] = field(default_factory=list)
    potential: float = 0.0

    @property
    def excluded(self) -> list[str]:
        return [cause.why for cause in self.causes]


def score_pattern(pattern: Pattern, answers: Answers, limits: list[Cause] | None = None) -> Scored:
    """Apply one pattern's exclusions, ``limits`` (hard limits found elsewhere) and rules."""

    def lookup(path: str) -> Any:
        return get_answer(answers, path)

    result = Scored(pattern)
    result.causes = [
        Cause(fill_placeholders(e.why, lookup), tuple(e.when.fields()))
        for e in pattern.excludes
        if e.when.holds(lookup)
    ] + list(limits or [])
    fired = [rule for rule in pattern.rules if rule.when.holds(lookup)]
    fired.sort(key=lambda rule: -abs(rule.weight))  # stable: file order breaks ties
    total = pattern.base_score + sum(rule.weight for rule in fired)
    result.potential = round(min(1.0, max(0.0, total)), 3)
    if result.causes:
        result.reasons = [f"excluded: {why}" for why in result.excluded]
        return result
    result.score = result.potential
    result.reasons = [f"{r.weight:+.2f} {fill_placeholders(r.reason, lookup)}" for r in fired]
    if not result.reasons:
        result.reasons = [
            f"no answer spoke for or against it; it keeps its base score {pattern.base_score:.2f}"
        ]
    return result


@dataclass(frozen=True)
class Relaxation:
    """Answers whose change brings back some patterns, and why those are out now."""

    fields: tuple[str, ...]
    patterns: tuple[str, ...]
    why: str

    def text(self) -> str:
        return f"{' or '.join(self.fields)} (brings back {', '.join(self.patterns)}: {self.why})"


def _relax(scored: list[Scored]) -> tuple[Scored, list[Relaxation]]:
    """The closest pattern when all are out, and the constraints whose change brings one back.

    The closest is ruled out by the fewest constraints (then the best score the rules would
    give it). Patterns kept out by the same answers are grouped in one relaxation.
    """
    closest = min(scored, key=lambda s: (len(s.causes), -s.potential, s.pattern.order))
    groups: dict[tuple[str, ...], list[Scored]] = {}
    for item in sorted(scored, key=lambda s: (-s.potential, s.pattern.order)):
        if len(item.causes) == len(closest.causes):
            fields = tuple(sorted({f for cause in item.causes for f in cause.fields}))
            groups.setdefault(fields, []).append(item)
    return closest, [
        Relaxation(fields, tuple(i.pattern.name for i in items), "; ".join(items[0].excluded))
        for fields, items in groups.items()
    ]


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
    scored = [score_pattern(p, answers, hard_limits(p, answers, sizing)) for p in patterns]
    scored.sort(key=lambda s: (bool(s.causes), -s.score, s.pattern.order))
    winner, relax = scored[0], list[Relaxation]()  # empty: the winner is feasible
    if winner.causes:
        winner, relax = _relax(scored)
        scored.sort(key=lambda s: (len(s.causes), -s.potential, s.pattern.order))
    est = estimate(answers, sizing, on_device=winner.pattern.kind == "export")
    stack = suggest_stack(winner.pattern, answers, est, sizing)
    ranking = [(s.pattern.name, s.score) for s in scored if not s.causes]
    warnings = collect_warnings(winner.pattern, answers, est, sizing, ranking)
    if relax:
        changes = "; ".join(" or ".join(r.fields) for r in relax)
        warnings.insert(
            0,
            f"no pattern is feasible: the answers rule every pattern out; {winner.pattern.name} "
            f"is the closest. Change one of: {changes}",
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
        next=next_command(stack, answers) if not relax else RELAX_NEXT,
        feasible=not relax,
        relax=[r.text() for r in relax],
    )
