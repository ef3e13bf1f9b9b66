"""Rich rendering of a Recommendation: ranking, reasons, warnings, trade-offs, next step."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from mlship.cli.output import console
from mlship.knowledge.patterns import Pattern, find_pattern

if TYPE_CHECKING:
    from mlship.contracts import Recommendation

_STACK_ROWS = (
    ("serving", "serving_why"),
    ("runtime", "runtime_why"),
    ("accelerator", "accelerator_why"),
    ("batch_size", None),
    ("replicas", None),
    ("engine", "engine_why"),
    ("scale_out", "scale_out_how"),
    ("packaging", "packaging_why"),
)


def _bar(score: float, width: int = 10) -> str:
    filled = round(score * width)
    return "█" * filled + "·" * (width - filled)


def _ranking(result: Recommendation) -> Table:
    table = Table(title="Ranking", title_justify="left", expand=False)
    table.add_column("#", justify="right")
    table.add_column("pattern")
    table.add_column("score", justify="right")
    table.add_column("", no_wrap=True)
    table.add_column("main reason")
    excluded = {e.pattern for e in result.excluded}
    for index, ranked in enumerate(result.ranking, start=1):
        style = "dim" if ranked.pattern in excluded else ("bold green" if index == 1 else "")
        reason = ranked.reasons[0] if ranked.reasons else ""
        table.add_row(
            str(index),
            ranked.pattern,
            "out" if ranked.pattern in excluded else f"{ranked.score:.2f}",
            _bar(ranked.score),
            escape(reason),
            style=style,
        )
    return table


def _stack(result: Recommendation) -> Table:
    table = Table(title="Suggested stack", title_justify="left", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    for key, why_key in _STACK_ROWS:
        value = result.stack.get(key)
        if value is None:
            continue
        text = escape(str(value))
        why = result.stack.get(why_key) if why_key else None
        if why:
            text += f"\n[dim]{escape(str(why))}[/]"
        table.add_row(key.replace("_", " "), text)
    return table


def _tradeoffs(pattern: Pattern, label: str) -> Panel:
    lines = [f"[bold]{escape(pattern.title)}[/] - {escape(pattern.summary)}", ""]
    lines += [f"[green]+[/] {escape(s)}" for s in pattern.strengths]
    lines += [f"[red]-[/] {escape(w)}" for w in pattern.weaknesses]
    lines += ["", "[dim]operational costs:[/]"]
    lines += [f"[dim]·[/] {escape(cost)}" for cost in pattern.operational_costs]
    return Panel("\n".join(lines), title=label, title_align="left")


def render_recommendation(
    result: Recommendation,
    patterns: list[Pattern],
    saved_to: Path | None = None,
    notes: list[str] | None = None,
) -> None:
    """Print the recommendation for a person."""
    out = console()
    winner = next(r for r in result.ranking if r.pattern == result.pattern)
    if result.feasible:
        out.print(
            f"\n[bold]Recommended pattern: [green]{result.pattern}[/][/] (score {winner.score:.2f})"
        )
    else:
        out.print(
            "\n[bold red]No feasible pattern[/]: the answers rule every pattern out; "
            f"the closest is [bold]{result.pattern}[/]."
        )
    out.print(_ranking(result))
    if result.feasible:
        out.print(f"\n[bold]Why {result.pattern}[/]")
        for reason in winner.reasons:
            out.print(f"  • {escape(reason)}")
    else:
        out.print("\n[bold]Relax one of these constraints[/]")
        for line in result.relax:
            out.print(f"  • {escape(line)}")
    if result.excluded:
        out.print("\n[bold]Ruled out[/]")
        for item in result.excluded:
            out.print(f"  • [dim]{item.pattern}[/]: {escape(item.why)}")
    if result.warnings:
        out.print("\n[bold yellow]Warnings[/]")
        for warning in result.warnings:
            out.print(f"  [yellow]![/] {escape(warning)}")
    out.print()
    out.print(_stack(result))
    out.print(_tradeoffs(find_pattern(patterns, result.pattern), "chosen"))
    excluded = {e.pattern for e in result.excluded}
    # a pattern scoring 0 is no contender, so it is not shown as the runner-up
    runner_up = next(
        (r for r in result.ranking[1:] if r.pattern not in excluded and r.score > 0), None
    )
    if runner_up is not None:
        out.print(
            _tradeoffs(
                find_pattern(patterns, runner_up.pattern),
                f"runner-up: {runner_up.pattern} ({runner_up.score:.2f})",
            )
        )
    if saved_to is not None:
        out.print(f"Decision record written to [bold]{escape(str(saved_to))}[/]")
    for note in notes or []:
        out.print(f"  [dim]·[/] {escape(note)}")
    out.print(f"\n[bold]Next:[/] {escape(result.next)}\n", soft_wrap=True)
