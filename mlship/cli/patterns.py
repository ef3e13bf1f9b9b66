"""``mlship patterns`` (list the knowledge base) and ``mlship patterns show NAME``."""

from __future__ import annotations

from pathlib import Path

import typer

from mlship.cli.app import app
from mlship.cli.errors import reported_errors

patterns_app = typer.Typer(
    help="Browse the pattern knowledge base (one YAML file per pattern).",
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(patterns_app, name="patterns")

_DIR_HELP = "Organisation knowledge base: its pattern files replace the built-in ones."


@patterns_app.callback()
def list_patterns(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the patterns as JSON."),
    patterns_dir: Path | None = typer.Option(
        None, "--patterns-dir", envvar="MLSHIP_PATTERNS_DIR", help=_DIR_HELP
    ),
) -> None:
    """List the five deployment patterns; `mlship patterns show NAME` shows one."""
    if ctx.invoked_subcommand is not None:
        return
    with reported_errors():
        from mlship.knowledge.patterns import load_patterns

        patterns = load_patterns(patterns_dir)
        if as_json:
            from mlship.cli.output import print_json

            print_json([p.model_dump(mode="json", exclude_none=True) for p in patterns])
            return
        from mlship.cli._render_patterns import render_pattern_list

        render_pattern_list(patterns)


@patterns_app.command("show")
def show_pattern(
    name: str = typer.Argument(..., help="online, batch, edge, streaming or chained."),
    as_json: bool = typer.Option(False, "--json", help="Print the pattern as JSON."),
    patterns_dir: Path | None = typer.Option(
        None, "--patterns-dir", envvar="MLSHIP_PATTERNS_DIR", help=_DIR_HELP
    ),
) -> None:
    """Show one pattern: what it is, trade-offs, default stack, scale-out and scoring rules."""
    with reported_errors():
        from mlship.errors import InputError
        from mlship.knowledge.patterns import find_pattern, load_patterns

        patterns = load_patterns(patterns_dir)
        try:
            pattern = find_pattern(patterns, name)
        except KeyError:
            raise InputError(
                f"NAME: {name!r} is not a pattern (allowed: {', '.join(p.name for p in patterns)})"
            ) from None
        if as_json:
            from mlship.cli.output import print_json

            print_json(pattern.model_dump(mode="json", exclude_none=True))
            return
        from mlship.cli._render_patterns import render_pattern

        render_pattern(pattern)
