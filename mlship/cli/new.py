"""``mlship new PATTERN DEST``: options and prompts in, one ``new_project`` call, the result out."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from mlship.cli.app import app
from mlship.cli.errors import reported_errors

if TYPE_CHECKING:
    from mlship.contracts import DecisionRecord
    from mlship.new.spec import NewProjectResult

FORMATS = ("onnx", "sklearn", "torch")
# ProjectSpec field -> the option that sets it, so errors name what the user typed.
OPTION_OF = {
    "p99_ms": "--p99-ms",
    "max_error_rate": "--max-error-rate",
    "min_rps": "--min-rps",
    "model_format": "--model-format",
    "python_version": "--python",
    "input_schema": "--input-schema",
}


def _option_names(lines: list[str]) -> list[str]:
    named = []
    for line in lines:
        field, _, rest = line.partition(":")
        named.append(f"{OPTION_OF.get(field, field)}:{rest}" if rest else line)
    return named


def _interactive(defaults: bool, as_json: bool) -> bool:
    return not (defaults or as_json) and sys.stdin.isatty() and sys.stdout.isatty()


def _ask(
    values: dict[str, Any], record: DecisionRecord | None, dest: Path, latency_bound: bool
) -> None:
    """Ask, on a terminal, what neither the options nor the decision record answered."""
    from rich.prompt import Confirm, FloatPrompt, Prompt

    from mlship.cli.output import console, print_error
    from mlship.errors import InputError
    from mlship.new.naming import name_from_folder, validate_project_name

    out = console()
    answers = record.answers if record else None
    if values["name"] is None:
        try:
            suggested: str | None = name_from_folder(dest.name)
        except InputError:
            suggested = None
        while True:
            name = Prompt.ask("Project name", default=suggested, console=out)
            try:
                values["name"] = validate_project_name(name or "")
                break
            except InputError as error:
                print_error(str(error))
    recommended_format = record is not None and "model_format" in record.stack
    if values["model_format"] is None and values["model"] is None and not recommended_format:
        values["model_format"] = Prompt.ask(
            "Model runtime", choices=list(FORMATS), default="onnx", console=out
        )
    if values["gpu"] is None and record is None:
        values["gpu"] = Confirm.ask("Serve on a GPU?", default=False, console=out)
    budget_known = record is not None and (
        record.budget.p99_ms is not None or (answers is not None and answers.latency.p99_ms)
    )
    if values["p99_ms"] is None and not budget_known and latency_bound:
        values["p99_ms"] = FloatPrompt.ask("p99 latency budget in ms", default=100.0, console=out)


def _print_result(result: NewProjectResult) -> None:
    from rich.markup import escape
    from rich.tree import Tree

    from mlship.cli.output import console, print_warning

    out = console()
    tree = Tree(f"[bold]{escape(str(result.dest))}[/]")
    folders: dict[tuple[str, ...], Tree] = {(): tree}
    for rel in result.files:
        parts = tuple(rel.split("/"))
        for depth in range(1, len(parts)):
            key = parts[:depth]
            if key not in folders:
                folders[key] = folders[key[:-1]].add(f"[blue]{escape(key[-1])}/[/]")
        folders[parts[:-1]].add(escape(parts[-1]))
    out.print(tree)
    conversion = _conversion_line(result.model)
    if conversion:
        out.print(escape(conversion))
    for warning in result.warnings:
        print_warning(warning)
    if result.git.note and not result.git.commit:
        out.print(f"git: {escape(result.git.note)}")
    elif result.git.note:
        print_warning(result.git.note)
    what = f"{result.pattern} project {result.project_name}"
    out.print(f"\nCreated the {escape(what)} ({len(result.files)} files). Next:")
    for command in result.next:
        out.print(f"  {escape(command)}")


def _conversion_line(manifest: dict[str, Any] | None) -> str | None:
    """One line on how a scikit-learn model was brought in (converted, kept or not)."""
    conversion = (manifest or {}).get("conversion")
    if not isinstance(conversion, dict) or manifest is None:
        return None
    if conversion.get("status") == "failed":  # the warning below says why
        return None
    if conversion.get("status") != "converted":
        return f"model: {manifest['file']} is served by scikit-learn ({conversion.get('reason')})"
    parity, source = conversion["parity"], manifest["source_model"]["file"]
    labels = "labels equal, " if parity.get("labels_equal") else ""
    return (
        f"model: {source} converted to {manifest['file']} with {conversion['converter']} and "
        f"served by onnxruntime; on {parity['rows']} parity rows {labels}scores within "
        f"{parity['max_abs_diff']:.1e} (tolerance {parity['tolerance']:g}); {source} stays "
        "in models/"
    )


def _check_recorded_pattern(name: str, record: Path | None, patterns_dir: Path | None) -> None:
    """A record naming a pattern this knowledge base lacks is the record's fault: say so."""
    from mlship.errors import InputError
    from mlship.knowledge.patterns import pattern_files, pattern_names

    if name not in pattern_files(patterns_dir):
        raise InputError(
            f"invalid decision record {record}: pattern {name!r} is not a deployment pattern",
            hint=f"choose one of: {', '.join(pattern_names(patterns_dir))}",
        )


@app.command()
def new(
    pattern: str = typer.Argument(
        ..., metavar="PATTERN", help="online, batch, edge, streaming or chained."
    ),
    dest: Path | None = typer.Argument(
        None,
        metavar="DEST",
        help="Folder to create. With --from, PATTERN may be left out: mlship new --from FILE DEST.",
        show_default=False,
    ),
    name: str | None = typer.Option(None, help="Project name (default: DEST's folder name)."),
    package: str | None = typer.Option(None, help="Python package (default: from the name)."),
    description: str | None = typer.Option(None, help="One line for the README and pyproject."),
    model_format: str | None = typer.Option(
        None,
        "--model-format",
        help="Model format: onnx, sklearn (served as ONNX where the conversion agrees, with "
        "scikit-learn installed too) or torch (default: the --model file's, else onnx).",
        show_default=False,
    ),
    gpu: bool | None = typer.Option(
        None, "--gpu/--no-gpu", help="GPU image, CUDA torch and k8s GPU resources."
    ),
    cuda: str | None = typer.Option(None, help="CUDA build of torch for --gpu (e.g. 12.6)."),
    python: str = typer.Option("3.11", help="Python version of the project: 3.11 or 3.12."),
    p99_ms: float | None = typer.Option(None, help="p99 latency budget in ms (default 100)."),
    max_error_rate: float | None = typer.Option(None, help="Error-rate budget, 0-1."),
    min_rps: float | None = typer.Option(
        None,
        "--min-rps",
        "--target-rps",
        help="Throughput floor the project must sustain (requests, rows or events per second).",
    ),
    model: Path | None = typer.Option(
        None,
        help="Your model file (.onnx, .skops, .joblib/.pkl, .pt), copied under models/; a "
        "scikit-learn model is also converted to ONNX. Needs: pip install 'mlship[models]'.",
    ),
    input_schema: Path | None = typer.Option(
        None, help='JSON with the model input: {"features": [...]} or {"n_features": N}.'
    ),
    trust_pickle: bool = typer.Option(
        False,
        "--trust-pickle",
        help="Allow a joblib/pickle --model (loading it runs code from the file).",
    ),
    from_: Path | None = typer.Option(
        None, "--from", help="Decision record from `mlship recommend --save`."
    ),
    defaults: bool = typer.Option(False, "--defaults", help="Ask nothing; use defaults."),
    force: bool = typer.Option(
        False,
        "--force",
        help="Write into a non-empty DEST (replaces generated files, keeps the rest).",
    ),
    no_git: bool = typer.Option(False, "--no-git", help="Skip git init and the first commit."),
    templates: str | None = typer.Option(
        None,
        "--templates",
        envvar="MLSHIP_TEMPLATES",
        metavar="SOURCE",
        help="Organisation template source laid over mlship's (<pattern>/..., shared/...): "
        "a folder, or a git repository with an optional @REF (tag, branch or commit).",
    ),
    trust: bool = typer.Option(
        False, "--trust", help="Let the template source run code at render time (copier tasks)."
    ),
    patterns_dir: Path | None = typer.Option(
        None,
        "--patterns-dir",
        envvar="MLSHIP_PATTERNS_DIR",
        help="Organisation knowledge base: its pattern files replace or add to the built-in ones.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Render a runnable project for a deployment pattern into DEST."""
    with reported_errors():
        from pydantic import ValidationError

        from mlship.cli.output import print_json
        from mlship.errors import InputError, MlshipError
        from mlship.new.project import new_project
        from mlship.new.spec import ProjectSpec
        from mlship.record import read_decision_record
        from mlship.validation import describe_validation_error

        record = read_decision_record(from_) if from_ is not None else None
        if dest is None:
            if record is None:
                raise InputError("dest: missing", hint="usage: mlship new PATTERN DEST")
            chosen_pattern: str = record.pattern
            target = Path(pattern)
            _check_recorded_pattern(chosen_pattern, from_, patterns_dir)
        else:
            chosen_pattern, target = pattern, dest
        values: dict[str, Any] = {
            "name": name,
            "model_format": model_format,
            "gpu": gpu,
            "p99_ms": p99_ms,
            "model": model,
        }
        if _interactive(defaults, as_json):
            from mlship.knowledge.patterns import load_named_pattern

            try:
                knowledge = load_named_pattern(chosen_pattern, patterns_dir)
            except MlshipError:  # reported with the other options below
                latency_bound = False
            else:
                latency_bound = knowledge.project.latency_bound
            _ask(values, record, target, latency_bound)
        try:
            spec = ProjectSpec.model_validate(
                {
                    **values,
                    "pattern": chosen_pattern,
                    "package": package,
                    "description": description,
                    "cuda_version": cuda,
                    "python_version": python,
                    "max_error_rate": max_error_rate,
                    "min_rps": min_rps,
                    "templates": templates,
                    "trust": trust,
                    "patterns_dir": patterns_dir,
                    "input_schema": input_schema,
                    "trust_pickle": trust_pickle,
                    "git": not no_git,
                    "decision": record,
                }
            )
        except ValidationError as error:
            problems = _option_names(describe_validation_error(error))
            raise InputError("invalid options", problems=problems) from None
        try:
            result = new_project(spec, target, force=force)
        except InputError as error:
            (error.message,) = _option_names([error.message])  # name the option typed
            raise
        if as_json:
            print_json(result.model_dump(mode="json"))
        else:
            _print_result(result)
