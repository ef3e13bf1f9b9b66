"""``mlship recommend``: answers from a file, flags and prompts in; a ranked recommendation out."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from mlship.cli.app import app
from mlship.cli.errors import reported_errors

# option name -> the answer it sets; the questionnaire docs list the same fields.
FLAG_PATHS: dict[str, tuple[str, str]] = {
    "arrival": ("--arrival", "traffic.arrival"),
    "peak_rps": ("--peak-rps", "traffic.peak_rps"),
    "traffic_pattern": ("--traffic-pattern", "traffic.pattern"),
    "p99_ms": ("--p99-ms", "latency.p99_ms"),
    "freshness": ("--freshness", "latency.freshness"),
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
    p99_ms: float | None = typer.Option(
        None, help="End-to-end p99 budget in ms (> 0).", rich_help_panel=_Q
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
    from mlship.recommend.decision import build_decision_record
    from mlship.recommend.engine import next_command, recommend
    from mlship.record import DEFAULT_NAME, write_decision_record

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
    if target is not None:
        result = result.model_copy(
            update={
                "next": next_command(
                    result.stack, answers, directory=directory, decision_file=str(target)
                )
            }
        )
        write_decision_record(build_decision_record(answers, result), target)
    elif directory is not None:
        result = result.model_copy(
            update={"next": next_command(result.stack, answers, directory=directory)}
        )
    if given["as_json"]:
        print_json(result.model_dump(mode="json"))
        if target is not None:
            err_console().print(f"decision record written to {target}", markup=False)
        return
    from mlship.cli._render_recommend import render_recommendation

    render_recommendation(result, patterns, saved_to=target)
