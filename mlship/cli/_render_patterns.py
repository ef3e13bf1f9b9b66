"""Rich rendering of the pattern knowledge base."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from mlship.cli.output import console
from mlship.knowledge.patterns import Pattern


def render_pattern_list(patterns: list[Pattern]) -> None:
    table = Table(title="Deployment patterns", title_justify="left")
    table.add_column("name", style="bold")
    table.add_column("what it is")
    table.add_column("best for")
    for pattern in patterns:
        table.add_row(
            pattern.name,
            f"[bold]{escape(pattern.title)}[/]\n{escape(pattern.summary)}",
            escape("; ".join(pattern.best_for)),
        )
    out = console()
    out.print(table)
    out.print("Details: [bold]mlship patterns show NAME[/]")


def _section(title: str, items: list[str], mark: str = "•") -> None:
    out = console()
    out.print(f"\n[bold]{title}[/]")
    for item in items:
        out.print(f"  {mark} {escape(item)}")


def render_pattern(pattern: Pattern) -> None:
    out = console()
    out.print(f"[bold]{escape(pattern.title)}[/] ([cyan]{pattern.name}[/])\n")
    out.print(escape(pattern.summary))
    _section("When to use", pattern.when_to_use)
    _section("Strengths", pattern.strengths, "[green]+[/]")
    _section("Weaknesses", pattern.weaknesses, "[red]-[/]")
    _section("Best for", pattern.best_for)
    _section(
        "Default stack",
        [
            f"serving: {pattern.stack.serving}",
            f"runtime: {pattern.stack.runtime}",
            f"packaging: {pattern.stack.packaging}",
        ],
    )
    _section(
        "Scaling beyond one machine",
        [
            f"{s.name}: {s.how}" + (f" (when {s.when.describe()})" if s.when else "")
            for s in pattern.scale_out
        ],
    )
    _section("Operational costs", pattern.operational_costs)
    table = Table(title="Scoring", title_justify="left")
    table.add_column("when")
    table.add_column("weight", justify="right")
    table.add_row("(base score)", f"{pattern.base_score:.2f}")
    for rule in pattern.rules:
        table.add_row(escape(rule.when.describe()), f"{rule.weight:+.2f}")
    for exclusion in pattern.excludes:
        table.add_row(escape(exclusion.when.describe()), "[red]excluded[/]")
    out.print()
    out.print(table)
