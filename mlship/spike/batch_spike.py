"""The spike of a batch job: rows through the job as the project runs it, judged on rows/s.

Input is generated from the project's schema by the project's own ``sample`` command
(with ``--invalid-share`` of deliberately bad rows), or given with ``--payloads`` (a file
or a folder of NDJSON, CSV or Parquet). The job runs with the project's main command
(``make run``) and interpreter; while it runs, spike samples the memory of its whole
process tree and watches the parts it commits. The verdict compares the job's rows/s
with the rate the budget needs (rows per run over the batch window), its peak memory
with the memory budget, and rejects beyond the planted bad rows with the error budget.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlship.errors import InputError, Interrupted, ToolError
from mlship.spike import batch_watch, processes, profiles, verdict
from mlship.spike.batch_watch import Watched
from mlship.spike.interrupts import shielded
from mlship.spike.memory import MemorySampler
from mlship.spike.options import SpikeOptions
from mlship.spike.payloads import check_share
from mlship.spike.project import Interpreter, Project, project_interpreter
from mlship.spike.result import (
    BatchStats,
    BudgetUsed,
    Criterion,
    Profile,
    Target,
)
from mlship.spike.runs import Outcome, Progress

OPTIONS = {"payloads", "invalid_share", "input_rows", "timeout", "serve_command"}
DEFAULT_ROWS = 100_000
MAX_ROWS = 10_000_000
DEFAULT_TIME_LIMIT = "10m"
REJECT_EXIT = 3  # the job's exit code when its own reject limit is exceeded (still judged)


@dataclass(frozen=True)
class BatchSpike:
    """A checked batch spike: which input, which command, which budget."""

    project: Project
    interpreter: Interpreter
    budget: BudgetUsed
    input_path: Path | None
    rows: int | None
    bad_rows: int
    time_limit_s: float
    command: str | None

    def execute(self, run_dir: Path, progress: Progress | None) -> Outcome:
        return _execute(self, run_dir, progress)


def plan(options: SpikeOptions, project: Project, budget: BudgetUsed) -> BatchSpike:
    """Check the input and the project before anything is generated or run."""
    check_share(options.invalid_share)
    manifest = project.path / "models" / "manifest.json"
    if not manifest.is_file():
        raise InputError(
            f"{project.path}: no models/manifest.json, so the job has no model to score with",
            hint="run `make model` in the project first",
        )
    _ = project.package  # unknown: bad input now, before anything runs
    given = options.payloads
    if given is not None:
        if not given.exists():
            raise InputError(f"--payloads: {given} does not exist (a file or folder of input)")
        if options.input_rows is not None:
            raise InputError("--input-rows generates input; --payloads gives it: choose one")
        if options.invalid_share:
            raise InputError(
                "--invalid-share plants bad rows in generated input; with --payloads the "
                "job's rejects are judged as they come"
            )
    rows = None
    if given is None:
        rows = options.input_rows if options.input_rows is not None else DEFAULT_ROWS
        if not 1 <= rows <= MAX_ROWS:
            raise InputError(f"--input-rows: {rows!r} must be between 1 and {MAX_ROWS:,}")
    bad = round(options.invalid_share * rows) if rows else 0
    limit = profiles.parse_duration(options.timeout or DEFAULT_TIME_LIMIT, "--timeout")
    return BatchSpike(
        project=project,
        interpreter=project_interpreter(project.path),
        budget=budget,
        input_path=given.resolve() if given is not None else None,
        rows=rows,
        bad_rows=bad,
        time_limit_s=limit,
        command=options.serve_command,
    )


def _generate(p: BatchSpike, path: Path, log: Path) -> int:
    """Write ``p.rows`` rows with the project's own sampler; returns the bad rows planted."""
    assert p.rows is not None
    command = [
        p.interpreter.python,
        "-m",
        f"{p.project.package}.batch",
        "sample",
        "--rows",
        str(p.rows),
        "--path",
        str(path),
        "--bad-rows",
        str(p.bad_rows),
    ]
    with log.open("ab") as handle:
        handle.write(f"$ {shlex.join(command)}\n".encode())
    try:
        done = subprocess.run(
            command,
            cwd=p.project.path,
            env=p.interpreter.env(),
            capture_output=True,
            text=True,
            timeout=max(p.time_limit_s, 60.0),
        )
    except subprocess.TimeoutExpired:
        raise ToolError(f"generating {p.rows:,} rows took longer than the time limit") from None
    with log.open("a", encoding="utf-8") as handle:
        handle.write(done.stdout + done.stderr)
    if done.returncode != 0:
        raise processes.failure(
            f"the project's sampler failed (exit {done.returncode})", log, command, p.project.path
        )
    try:
        report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise ToolError(f"the project's sampler printed no JSON report; see {log}") from None
    return sum(int(n) for n in report.get("bad", {}).values())


def _command(p: BatchSpike, source: Path, output: Path) -> list[str]:
    if p.command:
        return shlex.split(p.command)
    return [
        *shlex.split(p.project.main_command),
        f"PYTHON={p.interpreter.python}",
        f"INPUT={source}",
        f"OUTPUT={output}",
    ]


def _window(p: BatchSpike) -> tuple[int | None, float | None]:
    """Rows per run and the batch window (s) from the record's answers, when given."""
    answers = p.project.record.answers if p.project.record else None
    if answers is None:
        return None, None
    rows = getattr(answers.traffic, "rows_per_run", None)
    minutes = getattr(answers.latency, "window_minutes", None)
    return (int(rows) if rows else None), (float(minutes) * 60 if minutes else None)


def _stats(
    p: BatchSpike, run: dict[str, Any], watched: Watched, sampler: MemorySampler, planted: int
) -> BatchStats:
    counts = run.get("counts", {})
    rows = int(counts.get("input", 0))
    rejected = int(counts.get("rejected", 0))
    job_s = float(run.get("duration_s") or 0.0)
    wall_s = max(watched.ended - watched.started, 1e-9)
    unexpected = abs(rejected - planted)
    rate = float(run.get("rows_per_s") or 0.0)
    rows_per_run, window_s = _window(p)
    return BatchStats(
        rows=rows,
        scored=int(counts.get("scored", 0)),
        rejected=rejected,
        reject_rate=float(counts.get("reject_rate", 0.0)),
        planted_bad=planted,
        unexpected_rejects=unexpected,
        error_rate=round(unexpected / rows, 6) if rows else 0.0,
        job_seconds=round(job_s, 3),
        wall_seconds=round(wall_s, 3),
        rows_per_s=round(rate, 1),
        wall_rows_per_s=round(rows / wall_s, 1),
        peak_memory_mb=None if sampler.peak_mb is None else round(sampler.peak_mb, 1),
        memory_measure=sampler.measure,
        processes=sampler.processes,
        exit_code=watched.exit_code if watched.exit_code is not None else -1,
        status=run.get("status"),
        parts=batch_watch.parts(run, watched),
        timeseries=batch_watch.timeseries(watched, sampler),
        projected_run_s=round(rows_per_run / rate, 1) if rows_per_run and rate > 0 else None,
        window_s=window_s,
    )


def _criteria(s: BatchStats, budget: BudgetUsed) -> list[Criterion]:
    found = []
    if budget.min_rps is not None:
        c = verdict.check_at_least(
            "min_rps", s.rows_per_s, budget.min_rps, "the job's throughput", "rows/s", "no rows"
        )
        if s.projected_run_s is not None and s.window_s is not None:
            c.reason += (
                f" (a run of its rows would take {s.projected_run_s / 60:.1f} min of the "
                f"{s.window_s / 60:g} min window)"
            )
        found.append(c)
    if budget.max_memory_mb is not None:
        found.append(
            verdict.check_at_most(
                "max_memory_mb",
                s.peak_memory_mb,
                budget.max_memory_mb,
                f"peak memory ({s.memory_measure.upper()} over {s.processes} processes)",
                "MiB",
                "the job's memory could not be read",
            )
        )
    if budget.max_error_rate is not None:
        c = verdict.check_at_most(
            "max_error_rate", s.error_rate, budget.max_error_rate, "reject rate", "", "no rows"
        )
        c.reason = (
            f"{s.unexpected_rejects} of {s.rows} rows rejected beyond the {s.planted_bad} "
            f"planted bad ones ({s.error_rate:.2%}) "
            + ("is within" if c.passed else "is above")
            + f" the {budget.max_error_rate:.2%} budget"
        )
        found.append(c)
    return found


def _notes(p: BatchSpike, s: BatchStats) -> list[str]:
    notes = [
        f"Throughput is the job's own: {s.rows:,} rows in {s.job_seconds:g} s of job time; "
        f"with interpreter start-up and model load the wall clock gave "
        f"{s.wall_rows_per_s:,.0f} rows/s ({s.wall_seconds:g} s)."
    ]
    if p.budget.min_rps is None:
        notes.append(
            "No throughput floor: set budget.min_rps (rows/s) in mlship.yaml, answer "
            "traffic.rows_per_run and latency.window_minutes, or give --min-rps."
        )
    if s.exit_code == REJECT_EXIT:
        notes.append(
            f"The job itself failed the run: {s.reject_rate:.2%} of rows rejected is above "
            "its own max_reject_rate (settings.yaml)."
        )
    if len(s.parts) < 3:
        notes.append(
            f"The input made {len(s.parts)} part(s): give more rows (--input-rows) for a "
            "throughput curve with more points."
        )
    return notes


def _execute(p: BatchSpike, run_dir: Path, progress: Progress | None) -> Outcome:
    log = run_dir / "job.log"
    work = run_dir / "work"
    output = work / "output"
    planted = 0
    if p.input_path is None:
        source = work / "input" / "sample.ndjson"
        source.parent.mkdir(parents=True)
        if progress is not None:
            progress({"line": f"generating {p.rows:,} rows with the project's sampler"})
        try:
            planted = _generate(p, source, log)
        except KeyboardInterrupt:
            raise Interrupted("interrupted while generating input: nothing measured") from None
    else:
        source = p.input_path
    command = _command(p, source, output)
    env = p.interpreter.env(APP_INPUT=str(source), APP_OUTPUT=str(output), APP_PROGRESS="off")
    with log.open("ab") as handle:
        handle.write(f"$ {shlex.join(command)}\n".encode())
    process = processes.start(command, p.project.path, env, log)
    sampler = MemorySampler(process.pid).start()
    try:
        watched = batch_watch.watch(process, p.time_limit_s, sampler, output, progress)
    finally:
        with shielded():
            sampler.stop()
            timed_out = process.poll() is None
            processes.stop(process)
    batch_watch.collect(output, watched, watched.ended)  # parts committed since the last look
    if watched.interrupted and not watched.rows_at:
        shutil.rmtree(work, ignore_errors=True)
        raise Interrupted("interrupted before the job finished a part: nothing measured")
    if timed_out and not watched.interrupted:
        raise processes.failure(
            f"the job did not finish within {p.time_limit_s:g} s (--timeout)",
            log,
            command,
            p.project.path,
        )
    with shielded():
        run = batch_watch.run_document(output, watched)
        if not watched.interrupted and watched.exit_code not in (0, REJECT_EXIT):
            raise processes.failure(
                f"the job failed with exit code {watched.exit_code}", log, command, p.project.path
            )
        if run is None:
            raise processes.failure(
                "the job wrote no run manifest (run.json)", log, command, p.project.path
            )
        artifacts = {"dir": str(run_dir), "job_log": str(log)}
        shutil.copyfile(output / "run.json", run_dir / "job-run.json")
        artifacts["job_run"] = str(run_dir / "job-run.json")
        shutil.rmtree(work, ignore_errors=True)  # generated input and predictions: large
    figures = _stats(p, run, watched, sampler, planted)
    source_text = (
        f"{p.rows:,} rows generated by {p.project.package}.batch sample"
        + (f" ({planted} planted bad rows)" if planted else "")
        if p.input_path is None
        else f"input {p.input_path}"
    )
    return Outcome(
        target=Target(url=None, path=None, project=str(p.project.path), started_by_spike=True),
        profile=Profile(
            kind="rows",
            description=f"batch job: {shlex.join(command[:2])} over {source_text}",
            rows=figures.rows,
            timeout_s=p.time_limit_s,
            invalid_share=round(planted / p.rows, 6) if p.rows else 0.0,
            payloads=source_text,
        ),
        batch=figures,
        criteria=_criteria(figures, p.budget),
        notes=_notes(p, figures),
        artifacts=artifacts,
        interrupted=watched.interrupted,
    )
