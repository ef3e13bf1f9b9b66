"""``mlship recommend``: answers from a file, flags and prompts in; a ranked recommendation out."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from mlship.cli.app import app
from mlship.cli.errors import reported_errors
from mlship.errors import EXIT_FAILED

if TYPE_CHECKING:
    from mlship.contracts import Answers, Recommendation
    from mlship.knowledge.patterns import Pattern

# option name -> the answer it sets; the questionnaire docs list the same fields.
FLAG_PATHS: dict[str, tuple[str, str]] = {
    "arrival": ("--arrival", "traffic.arrival"),
    "peak_rps": ("--peak-rps", "traffic.peak_rps"),
    "traffic_pattern": ("--traffic-pattern", "traffic.pattern"),
    "rows_per_run": ("--rows-per-run", "traffic.rows_per_run"),
    "p99_ms": ("--p99-ms", "latency.p99_ms"),
    "freshness": ("--freshness", "latency.freshness"),
    "window_minutes": ("--window-minutes", "latency.window_minutes"),
    "sensitivity": ("--sensitivity", "data.sensitivity"),
    "must_stay_on_device": ("--must-stay-on-device", "data.must_stay_on_device"),
    "audit_trail": ("--audit-trail", "data.audit_trail"),
    "target": ("--target", "hardware.target"),
    "accelerator": ("--accelerator", "hardware.accelerator"),
    "gpu_memory_gb": ("--gpu-memory-gb", "hardware.gpu_memory_gb"),
    "device_memory_mb": ("--device-memory-mb", "hardware.device_memory_mb"),
    "offline": ("--offline", "hardware.offline"),
    "framework": ("--framework", "model.framework"),
    "model_size_mb": ("--model-size-mb", "model.size_mb"),
    "stages": ("--stages", "model.stages"),
    "ops_capacity": ("--ops-capacity", "team.ops_capacity"),
    "kubernetes": ("--kubernetes", "team.kubernetes"),
}

_Q = "Answers (override the file)"


def _resolve_interactive(asked: bool | None, missing: list[str]) -> bool:
    """Prompt when asked to, or on a terminal when something required is missing."""
    if asked is None:
        return sys.stdin.isatty() and bool(missing)
    return asked


@app.command()
def recommend(
    answers_file: Path | None = typer.Option(
        None, "--answers", "-a", help="Answers file (YAML or JSON); flags override its values."
    ),
    arrival: str | None = typer.Option(
        None, help="How work arrives: requests, events, datasets, on-device.", rich_help_panel=_Q
    ),
    peak_rps: float | None = typer.Option(
        None, help="Peak requests or events per second (> 0).", rich_help_panel=_Q
    ),
    traffic_pattern: str | None = typer.Option(
        None, help="Load shape: steady, bursty, spiky.", rich_help_panel=_Q
    ),
    rows_per_run: int | None = typer.Option(
        None, help="Batch: rows one run of the job scores.", rich_help_panel=_Q
    ),
    p99_ms: float | None = typer.Option(
        None, help="End-to-end p99 budget in ms (> 0).", rich_help_panel=_Q
    ),
    window_minutes: float | None = typer.Option(
        None, help="Batch: minutes one run of the job may take.", rich_help_panel=_Q
    ),
    freshness: str | None = typer.Option(
        None,
        help="How stale a prediction may be: realtime, seconds, minutes, hours, days.",
        rich_help_panel=_Q,
    ),
    sensitivity: str | None = typer.Option(
        None, help="Data sensitivity: public, internal, pii, regulated.", rich_help_panel=_Q
    ),
    must_stay_on_device: bool | None = typer.Option(
        None,
        "--must-stay-on-device/--no-must-stay-on-device",
        help="Input data may not leave the device.",
        rich_help_panel=_Q,
    ),
    audit_trail: bool | None = typer.Option(
        None,
        "--audit-trail/--no-audit-trail",
        help="Every prediction must be reproducible and auditable.",
        rich_help_panel=_Q,
    ),
    target: str | None = typer.Option(
        None, help="Where the model runs: server, mobile, browser, embedded.", rich_help_panel=_Q
    ),
    accelerator: str | None = typer.Option(
        None, help="Accelerator for inference: none, gpu.", rich_help_panel=_Q
    ),
    gpu_memory_gb: float | None = typer.Option(
        None, help="Memory of one GPU in GiB (> 0).", rich_help_panel=_Q
    ),
    device_memory_mb: float | None = typer.Option(
        None, help="Memory for the model on the device in MiB (> 0).", rich_help_panel=_Q
    ),
    offline: bool | None = typer.Option(
        None, "--offline/--no-offline", help="Must work without a network.", rich_help_panel=_Q
    ),
    framework: str | None = typer.Option(
        None,
        help="Training framework: sklearn, pytorch, onnx, tensorflow, other.",
        rich_help_panel=_Q,
    ),
    model_size_mb: float | None = typer.Option(
        None, help="Size of the model artifact in MiB (> 0).", rich_help_panel=_Q
    ),
    stages: int | None = typer.Option(
        None, help="Models that feed each other (1 = a single model).", rich_help_panel=_Q
    ),
    ops_capacity: str | None = typer.Option(
        None, help="Who runs it: small, platform.", rich_help_panel=_Q
    ),
    kubernetes: bool | None = typer.Option(
        None,
        "--kubernetes/--no-kubernetes",
        help="The team already runs Kubernetes.",
        rich_help_panel=_Q,
    ),
    interactive: bool | None = typer.Option(
        None,
        "--interactive/--no-interactive",
        help="Ask the questionnaire for unanswered questions. Default: only on a terminal "
        "when a required answer is missing.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the recommendation as JSON."),
    save: bool = typer.Option(False, "--save", help="Write the decision record to ./mlship.yaml."),
    save_to: Path | None = typer.Option(
        None, "--save-to", help="Write the decision record to this file (implies --save)."
    ),
    overwrite: bool = typer.Option(
        False,
        "--overwrite",
        help="Replace an existing decision record instead of merging into it (merging keeps "
        "a budget edited by hand).",
    ),
    patterns_dir: Path | None = typer.Option(
        None,
        "--patterns-dir",
        envvar="MLSHIP_PATTERNS_DIR",
        help="Organisation knowledge base: its pattern files replace the built-in ones.",
    ),
) -> None:
    """Recommend a deployment pattern (online, batch, edge, streaming, chained) and a stack.

    Answers come from --answers FILE, from the flags below (which win), and, on a terminal,
    from a questionnaire for whatever is still unanswered.
    """
    given = locals()
    with reported_errors():
        _run(given)


def _run(given: dict[str, Any]) -> None:
    from mlship.cli.output import console, err_console, print_json
    from mlship.errors import InputError
    from mlship.knowledge.patterns import load_patterns
    from mlship.recommend.answers import (
        AnswersSource,
        answered_paths,
        describe_missing,
        merge_answers,
        missing_required,
        read_answers_file,
        validate_answers,
    )
    from mlship.recommend.engine import next_command, recommend
    from mlship.record import DEFAULT_NAME

    overrides = {
        path: given[name] for name, (_, path) in FLAG_PATHS.items() if given[name] is not None
    }
    labels = {path: flag for name, (flag, path) in FLAG_PATHS.items() if given[name] is not None}
    file: Path | None = given["answers_file"]
    source = read_answers_file(file) if file is not None else AnswersSource(data={})
    patterns = load_patterns(given["patterns_dir"])  # a broken knowledge base fails first
    data = merge_answers(source.data, overrides)
    missing = missing_required(data)
    if _resolve_interactive(given["interactive"], missing):
        if not sys.stdin.isatty():
            raise InputError(
                "--interactive needs a terminal on stdin",
                hint="give the answers with --answers FILE and flags instead",
            )
        from mlship.cli._questionnaire import ask

        extra = ask(
            data, answered_paths(data), console=err_console() if given["as_json"] else console()
        )
        overrides = {**overrides, **extra}
        missing = missing_required(merge_answers(source.data, overrides))
    if missing:
        raise InputError(
            "missing required answers:",
            problems=describe_missing(missing),
            hint="give --arrival (or add traffic.arrival to the answers file), or run "
            "`mlship recommend` on a terminal to answer the questionnaire",
        )
    answers = validate_answers(source, overrides, labels=labels)
    result = recommend(answers, patterns)
    directory = f"./{file.stem}" if file is not None else None
    target: Path | None = given["save_to"] or (Path(DEFAULT_NAME) if given["save"] else None)
    notes: list[str] = []
    if target is not None and not result.feasible:
        notes = [f"{target} not written: no pattern is feasible under these answers"]
        target = None
    if target is not None:
        result = result.model_copy(
            update={
                "next": next_command(
                    result.stack, answers, directory=directory, decision_file=str(target)
                )
            }
        )
        notes = _save(answers, result, target, patterns, overwrite=given["overwrite"])
    elif directory is not None:
        result = result.model_copy(
            update={"next": next_command(result.stack, answers, directory=directory)}
        )
    if given["as_json"]:
        print_json(result.model_dump(mode="json"))
        if target is not None:
            err_console().print(f"decision record written to {target}", markup=False)
        for note in notes:
            err_console().print(f"  {note}", markup=False)
    else:
        from mlship.cli._render_recommend import render_recommendation

        render_recommendation(result, patterns, saved_to=target, notes=notes)
    if not result.feasible:  # a negative verdict: scripts and CI must not go ahead
        raise typer.Exit(EXIT_FAILED)


def _save(
    answers: Answers,
    result: Recommendation,
    target: Path,
    patterns: list[Pattern],
    *,
    overwrite: bool,
) -> list[str]:
    """Write the record, merged into an existing one unless ``overwrite``; return notes."""
    from mlship.errors import InputError
    from mlship.recommend.decision import (
        OVERWRITE_HINT,
        build_decision_record,
        merge_decision_records,
    )
    from mlship.record import read_decision_record, write_decision_record

    record = build_decision_record(answers, result)
    notes: list[str] = []
    if target.is_file() and not overwrite:
        try:
            existing = read_decision_record(target)
        except InputError as error:
            raise InputError(
                f"save: {target} exists and is not a decision record mlship can merge into; "
                "it was left as it is",
                problems=[error.message, *error.problems],
                hint=OVERWRITE_HINT,
            ) from None
        known = {p.name: p for p in patterns}
        merged = merge_decision_records(existing, record, target, known)
        record = merged.record
        notes = ["merged into the existing record", *merged.kept]
        if record.project and record.pattern in known:  # a generated project's record
            criteria = known[record.pattern].spike.criteria
            write_decision_record(record, target, criteria)
            return notes
    write_decision_record(record, target)
    return notes
