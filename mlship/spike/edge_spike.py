"""The spike of an edge export: each exported variant run as the target device would.

The variants are the ones the project's own export wrote (``dist/report.json``; spike
runs the project's ``make export`` first when there is none). Each runs in a fresh
process of the project's Python with the device's threads and rows per call (the
knowledge base's ``spike.devices``), and is judged on its file size, the memory it takes
and its p99 per single-row call on the device. A device latency that is a measurement on
this machine times a slowdown factor is labelled *estimated* everywhere it is shown.
The verdict is the shipped variant's; the others are reported beside it.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mlship.errors import InputError, Interrupted, ToolError
from mlship.knowledge.budget import comfortable_model_mb
from mlship.knowledge.patterns import Device
from mlship.spike import processes, profiles, verdict
from mlship.spike.interrupts import shielded
from mlship.spike.options import SpikeOptions
from mlship.spike.project import Interpreter, Project, project_interpreter
from mlship.spike.result import (
    BudgetUsed,
    Criterion,
    EdgeCase,
    EdgeStats,
    EdgeVariant,
    Profile,
    Target,
)
from mlship.spike.runs import Outcome, Progress

OPTIONS = {"duration", "device_factor", "serve_command", "timeout"}
PROBE = Path(__file__).with_name("probes") / "edge_probe.py"
REPORT = Path("dist") / "report.json"
DEFAULT_TARGET = "mobile"  # the edge template's default when nothing names a device
DEFAULT_CASE = "2s"
DEFAULT_EXPORT_LIMIT = "10m"
MB = 1024 * 1024


@dataclass(frozen=True)
class EdgeSpike:
    project: Project
    interpreter: Interpreter
    budget: BudgetUsed
    target: str
    target_source: str
    device: Device
    factor: float | None
    case_s: float
    export_limit_s: float
    command: str | None

    def execute(self, run_dir: Path, progress: Progress | None) -> Outcome:
        return _execute(self, run_dir, progress)


def plan(options: SpikeOptions, project: Project, budget: BudgetUsed) -> EdgeSpike:
    assert project.pattern is not None
    if options.device_factor is not None:
        profiles.positive(options.device_factor, "--device-factor")
    answers = project.record.answers if project.record else None
    target: str
    if answers is not None:
        target, source = answers.hardware.target, "mlship.yaml answers.hardware.target"
    else:
        target, source = _exported_target(project.path)
    devices = project.pattern.spike.devices
    if target not in devices:
        raise InputError(
            f"hardware.target {target!r}: the knowledge base knows no such device "
            f"(known: {', '.join(sorted(devices)) or 'none'})",
            hint=f"add it under spike.devices in patterns/{project.pattern.name}.yaml",
        )
    if (
        not (project.path / "models" / "manifest.json").is_file()
        and not (project.path / REPORT).is_file()
    ):
        raise InputError(
            f"{project.path}: no models/manifest.json and no export to run",
            hint="run `make model` in the project first",
        )
    if budget.max_model_mb is None and "max_model_mb" in project.pattern.spike.criteria:
        comfortable = comfortable_model_mb(target)
        if comfortable is not None:  # the last fallback: nothing else set a size
            budget = budget.model_copy(
                update={
                    "max_model_mb": comfortable,
                    "source": {**budget.source, "max_model_mb": f"default for {target}"},
                }
            )
    return EdgeSpike(
        project=project,
        interpreter=project_interpreter(project.path),
        budget=budget,
        target=target,
        target_source=source,
        device=devices[target],
        factor=options.device_factor,
        case_s=profiles.parse_duration(options.duration or DEFAULT_CASE),
        export_limit_s=profiles.parse_duration(
            options.timeout or DEFAULT_EXPORT_LIMIT, "--timeout"
        ),
        command=options.serve_command,
    )


def _exported_target(project: Path) -> tuple[str, str]:
    report = _read_report(project / REPORT) if (project / REPORT).is_file() else {}
    named = (report.get("budget") or {}).get("target")
    if isinstance(named, str):
        return named, f"{REPORT} budget.target"
    return DEFAULT_TARGET, "default"


def _read_report(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ToolError(f"{path}: cannot read the export report ({error})") from None
    if not isinstance(data, dict) or not isinstance(data.get("variants"), list):
        raise ToolError(f"{path}: not an export report (no variants)")
    return data


def _export(p: EdgeSpike, log: Path, progress: Progress | None) -> None:
    """Run the project's own export (``make export``) when it has not been run yet."""
    command = shlex.split(p.command or p.project.main_command)
    if not p.command:
        command.append(f"PYTHON={p.interpreter.python}")
    if progress is not None:
        progress({"line": f"no export yet: running {shlex.join(command[:2])} first"})
    with log.open("ab") as handle:
        handle.write(f"$ {shlex.join(command)}\n".encode())
    process = processes.start(command, p.project.path, p.interpreter.env(), log)
    try:
        code = process.wait(timeout=p.export_limit_s)
    except subprocess.TimeoutExpired:
        with shielded():
            processes.stop(process)
        raise processes.failure(
            f"the export did not finish within {p.export_limit_s:g} s",
            log,
            command,
            p.project.path,
        ) from None
    except KeyboardInterrupt:
        with shielded():
            processes.stop(process)
        raise Interrupted("interrupted during the export: nothing measured") from None
    if code != 0:
        raise processes.failure(f"the export failed (exit {code})", log, command, p.project.path)


def _probe(p: EdgeSpike, model: Path, log: Path) -> dict[str, Any]:
    rows = ",".join(str(r) for r in p.device.batch_rows)
    command = [
        p.interpreter.python,
        str(PROBE),
        "--model",
        str(model),
        "--threads",
        str(p.device.threads),
        "--rows",
        rows,
        "--seconds",
        f"{p.case_s:g}",
    ]
    with log.open("ab") as handle:
        handle.write(f"$ {shlex.join(command)}\n".encode())
    limit = 60.0 + p.case_s * len(p.device.batch_rows) * 3
    try:
        done = subprocess.run(
            command,
            cwd=p.project.path,
            env=p.interpreter.env(OMP_NUM_THREADS=str(p.device.threads)),
            capture_output=True,
            text=True,
            timeout=limit,
        )
    except subprocess.TimeoutExpired:
        raise ToolError(f"running {model} took longer than {limit:g} s") from None
    with log.open("a", encoding="utf-8") as handle:
        handle.write(done.stdout + done.stderr)
    if done.returncode != 0:
        raise processes.failure(
            f"running {model} failed (exit {done.returncode})", log, command, p.project.path
        )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _factor(p: EdgeSpike, report: dict[str, Any]) -> tuple[float, str]:
    if p.factor is not None:
        return p.factor, "--device-factor"
    exported = report.get("budget") or {}
    if exported.get("target") == p.target and isinstance(
        exported.get("device_factor"), int | float
    ):
        where = (exported.get("sources") or {}).get("device_factor") or "the export report"
        return float(exported["device_factor"]), f"the project's {where}"
    return p.device.factor, f"knowledge base spike.devices.{p.target}.factor"


def _judge(
    variant: dict[str, Any], budget: BudgetUsed, factor: float, word: str
) -> list[Criterion]:
    found = []
    size_mb = variant["size_bytes"] / MB
    if budget.max_model_mb is not None:
        found.append(
            verdict.check_at_most(
                "max_model_mb",
                round(size_mb, 3),
                budget.max_model_mb,
                "model file",
                "MiB",
                "no file",
            )
        )
    if budget.max_memory_mb is not None:
        found.append(
            verdict.check_at_most(
                "max_memory_mb",
                variant.get("memory_mb"),
                budget.max_memory_mb,
                "memory the model took",
                "MiB",
                "the model's memory could not be read",
            )
        )
    if budget.p99_ms is not None:
        single = next((c for c in variant["cases"] if c["rows"] == 1), variant["cases"][0])
        device = single["p99_ms"] * factor
        c = verdict.check_at_most(
            "p99_ms",
            round(device, 4),
            budget.p99_ms,
            f"device p99 per {single['rows']}-row call ({word})",
            "ms",
            "no call was timed",
        )
        if word == "estimated":
            c.reason += f"; host p99 {single['p99_ms']:.3g} ms x device factor {factor:g}"
        found.append(c)
    return found


def _execute(p: EdgeSpike, run_dir: Path, progress: Progress | None) -> Outcome:
    log = run_dir / "edge.log"
    report_path = p.project.path / REPORT
    exported_by_spike = False
    if not report_path.is_file():
        _export(p, log, progress)
        exported_by_spike = True
    report = _read_report(report_path)
    shipped = str((report.get("recommendation") or {}).get("variant") or "fp32")
    factor, factor_source = _factor(p, report)
    word: Literal["measured", "estimated"] = "measured" if factor == 1.0 else "estimated"
    variants: list[EdgeVariant] = []
    interrupted = False
    for entry in report["variants"]:
        name = str(entry.get("name"))
        file = p.project.path / str(entry.get("file"))
        if not file.is_file():
            continue
        if progress is not None:
            progress({"line": f"running {name} with {p.device.threads} thread(s) ({file.name})"})
        try:
            measured = _probe(p, file, log)
        except KeyboardInterrupt:
            interrupted = True
            break
        criteria = _judge(measured, p.budget, factor, word)
        variants.append(
            EdgeVariant(
                name=name,
                file=str(file),
                shipped=name == shipped,
                size_mb=round(measured["size_bytes"] / MB, 4),
                memory_mb=measured.get("memory_mb"),
                cases=[
                    EdgeCase(
                        rows=c["rows"],
                        runs=c["runs"],
                        p50_ms=c["p50_ms"],
                        p99_ms=c["p99_ms"],
                        device_p99_ms=round(c["p99_ms"] * factor, 4),
                    )
                    for c in measured["cases"]
                ],
                verdict=verdict.overall(criteria),
                criteria=criteria,
            )
        )
    if not variants:
        if interrupted:
            raise Interrupted("interrupted before a variant was run: nothing measured")
        raise ToolError(
            f"{report_path}: none of its variants' files exist",
            hint="run `make export` in the project again",
        )
    chosen = next((v for v in variants if v.shipped), variants[0])
    edge = EdgeStats(
        target=p.target,
        threads=p.device.threads,
        device_factor=factor,
        factor_source=factor_source,
        latency=word,
        shipped=chosen.name,
        exported=str(report.get("created")) if report.get("created") else None,
        variants=variants,
    )
    notes = [
        f"Device {p.target} (from {p.target_source}): {p.device.threads} thread(s), "
        f"{', '.join(str(r) for r in p.device.batch_rows)} row(s) per call; the verdict is "
        f"the shipped variant's ({chosen.name}). The p99 budget is per prediction, so it "
        "judges the single-row call; larger calls show what draining a queue at once costs."
    ]
    if word == "estimated":
        notes.append(
            f"Device latency is estimated: p99 measured on this machine x {factor:g} "
            f"({factor_source}). Measure on the device and set the factor (export.yaml "
            "budget.device_factors or --device-factor)."
        )
    passing = [v.name for v in variants if v.verdict == "PASS" and not v.shipped]
    if passing:
        notes.append(f"Other variants within the budget: {', '.join(passing)}.")
    if exported_by_spike:
        notes.append("There was no export yet: spike ran the project's export first.")
    return Outcome(
        target=Target(url=None, path=None, project=str(p.project.path), started_by_spike=True),
        profile=Profile(
            kind="variants",
            description=(
                f"{len(variants)} exported variant(s) on {p.target}: "
                f"{p.device.threads} thread(s), rows per call "
                f"{', '.join(str(r) for r in p.device.batch_rows)}, {p.case_s:g} s per case"
            ),
            duration_s=p.case_s,
            threads=p.device.threads,
            payloads="random rows shaped like the model's input",
        ),
        edge=edge,
        criteria=list(chosen.criteria),
        notes=notes,
        artifacts={"dir": str(run_dir), "edge_log": str(log)},
        interrupted=interrupted,
    )
