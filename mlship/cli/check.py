"""``mlship check [PROJECT]``: is the project still on the golden path? A table, JSON or SARIF."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from mlship.cli.app import app
from mlship.cli.errors import reported_errors

if TYPE_CHECKING:
    from mlship.lifecycle.check.findings import CheckResult


def _print(result: CheckResult) -> None:
    from rich.markup import escape
    from rich.table import Table

    from mlship.cli.output import console

    out = console()
    state = result.template
    latest = f", latest {state.latest}" if state.outdated else ""
    out.print(
        f"mlship check: {escape(result.project.pattern)} project "
        f"{escape(result.project.name)} (template {escape(state.version)}{escape(latest)})"
    )
    areas = {r["id"]: r["area"] for r in result.rules}
    order = list(dict.fromkeys(r["area"] for r in result.rules))
    table = Table(show_header=True, box=None, pad_edge=False, header_style="bold")
    for column in ("", "rule", "where", "finding"):
        table.add_column(column, overflow="fold", no_wrap=column != "finding")
    for area in order:
        found = [f for f in result.findings if areas.get(f.rule, f.area) == area]
        if not found:
            continue
        table.add_row(f"[bold]{escape(area)}[/]", "", "", "")
        for f in found:
            label = "waived" if f.waived else f.severity
            style = {"error": "bold red", "warning": "yellow"}.get(label, "dim")
            message = escape(f.message) + f"\n[dim]fix: {escape(f.hint)}[/]"
            table.add_row(f"  [{style}]{label}[/]", escape(f.rule), escape(f.where), message)
    if result.findings:
        out.print(table)
    errors = sum(f.severity == "error" and not f.waived for f in result.findings)
    warnings = sum(f.severity == "warning" and not f.waived for f in result.findings)
    waived = sum(f.waived for f in result.findings)
    verdict = "[bold green]OK[/]" if result.ok else "[bold red]FAIL[/]"
    out.print(
        f"{verdict}: {errors} error(s), {warnings} warning(s), {waived} waived; "
        f"{len(result.rules)} rules in {result.seconds:.2f} s"
    )


@app.command()
def check(
    project: Path = typer.Argument(
        Path("."), metavar="PROJECT", help="The project's folder (default: here)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    sarif: Path | None = typer.Option(
        None, "--sarif", metavar="FILE", help="Also write the findings as SARIF 2.1.0 to FILE."
    ),
    strict: bool = typer.Option(False, "--strict", help="Count warnings as errors."),
    patterns_dir: Path | None = typer.Option(
        None,
        "--patterns-dir",
        envvar="MLSHIP_PATTERNS_DIR",
        help="Organisation knowledge base: its checks/*.yaml add, change or disable rules.",
    ),
) -> None:
    """Check that a project still follows the golden path (offline, read-only).

    Exit 0: no error-level finding remains unwaived, 1: one does, 2: bad input (not an
    mlship project, unreadable record), 3: a tool failed.
    """
    with reported_errors():
        from mlship.cli.output import print_json
        from mlship.errors import ToolError
        from mlship.lifecycle.check import check_project

        result = check_project(project, strict=strict, patterns_dir=patterns_dir)
        if sarif is not None:
            from mlship.lifecycle.check.sarif import to_sarif

            try:
                sarif.write_text(json.dumps(to_sarif(result), indent=2) + "\n", encoding="utf-8")
            except OSError as error:
                raise ToolError(f"sarif: cannot write {sarif}: {error}") from None
        if as_json:
            print_json(result.contract())
        else:
            _print(result)
    raise typer.Exit(0 if result.ok else 1)
