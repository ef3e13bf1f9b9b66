"""``mlship update [PROJECT]``: merge the installed mlship's templates into a project with git."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from mlship.cli.app import app
from mlship.cli.errors import reported_errors

if TYPE_CHECKING:
    from mlship.lifecycle.update import UpdateResult

EXIT_OF = {"merged": 0, "up-to-date": 0, "clean": 0, "conflicts": 1, "would-conflict": 1}


def parse_data(items: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; values are YAML scalars (``true``, ``50``, ``onnx``)."""
    from mlship.errors import InputError
    from mlship.yaml_io import load_yaml

    data: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"data: {item!r} is not KEY=VALUE", hint="e.g. --data gpu=true")
        try:
            parsed = load_yaml(value) if value.strip() else ""
        except Exception:  # not YAML: take the text as it is
            parsed = value
        if isinstance(parsed, dict | list):
            parsed = value
        data[key.strip()] = parsed
    return data


def _print(result: UpdateResult) -> None:
    from rich.markup import escape

    from mlship.cli.output import console

    out = console()
    versions = f"{result.from_version} -> {result.to_version}"
    if result.to_overlay is not None:
        ref = result.to_overlay.ref or (result.to_overlay.commit or "")[:12]
        versions += f" (+ {result.to_overlay.source} at {ref})"
    headline = {
        "merged": f"Merged the template update {versions}.",
        "conflicts": f"Template update {versions}: conflicts left for you to resolve.",
        "up-to-date": f"Already up to date with the templates ({result.to_version}).",
        "clean": f"Dry run: the update {versions} would merge cleanly.",
        "would-conflict": f"Dry run: the update {versions} would conflict.",
    }[result.status]
    out.print(escape(headline))
    for label, files in (
        ("changed", result.changed),
        ("added", result.added),
        ("deleted", result.deleted),
        ("conflict", result.conflicts),
    ):
        for path in files:
            out.print(f"  {label:<9} {escape(path)}")
    if result.commit:
        out.print(f"commit {result.commit[:12]}")
    for step in result.next:
        out.print(f"  {escape(step)}")


@app.command()
def update(
    project: Path = typer.Argument(
        Path("."), metavar="PROJECT", help="The project's folder (default: here)."
    ),
    to: str | None = typer.Option(
        None,
        "--to",
        metavar="VERSION|REF",
        help="A tag, branch or commit of the project's organisation template source "
        "(mlship's own templates are those of the installed mlship).",
    ),
    data: list[str] = typer.Option(
        [], "--data", metavar="KEY=VALUE", help="Change a recorded answer, e.g. gpu=true."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Say which files would change, be added or conflict."
    ),
    trust: bool = typer.Option(
        False, "--trust", help="Let the template source run code at render time (copier tasks)."
    ),
    patterns_dir: Path | None = typer.Option(
        None,
        "--patterns-dir",
        envvar="MLSHIP_PATTERNS_DIR",
        help="Organisation knowledge base (for a project of an organisation's pattern).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Merge the installed mlship's templates into a project with git (3-way merge).

    Exit 0: merged (or nothing to do), 1: conflicts left for you (a dry run: would
    conflict), 2: bad input, 3: a tool failed.
    """
    with reported_errors():
        from mlship import update_project
        from mlship.cli.output import print_json

        result = update_project(
            project,
            to=to,
            data=parse_data(data),
            dry_run=dry_run,
            trust=trust,
            patterns_dir=patterns_dir,
        )
        if as_json:
            print_json(result.model_dump(mode="json"))
        else:
            _print(result)
    raise typer.Exit(EXIT_OF[result.status])
