"""The spike of a service (online, chained): requests over HTTP, judged on p99, errors, rate.

A project is served with its own ``make serve`` and interpreter; a URL is loaded as it
is. Request bodies come from ``--payloads``, the model's manifest, or a chained
project's own corpus of utterances (run with the project's Python).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlship.errors import InputError, Interrupted, ToolError
from mlship.spike import artifacts, profiles, stats, target, verdict
from mlship.spike import capacity as capacity_search
from mlship.spike import payloads as payload_source
from mlship.spike.interrupts import shielded
from mlship.spike.options import SpikeOptions
from mlship.spike.project import Project, project_interpreter
from mlship.spike.records import Record
from mlship.spike.result import BudgetUsed, Capacity, Profile, Stats, Target
from mlship.spike.runner import LoadInterrupted, LoadRun, run_load
from mlship.spike.runs import Outcome, Progress

LATE_WARNING_SHARE = 0.01
CORPUS_TEXTS = 2000
OPTIONS = {
    "path",
    "users",
    "spawn_rate",
    "rate",
    "duration",
    "arrivals",
    "find_capacity",
    "start_rate",
    "max_rate",
    "step_duration",
    "max_search_time",
    "workers",
    "timeout",
    "max_outstanding",
    "late_threshold_ms",
    "payloads",
    "invalid_share",
    "rows",
    "ready_timeout",
    "serve_command",
}


@dataclass(frozen=True)
class HttpSpike:
    """Everything checked: what to load, how, and against which budget."""

    target: target.Target
    profile: profiles.Profile
    client: profiles.ClientSettings
    payloads: payload_source.Payloads
    budget: BudgetUsed
    ready_timeout_s: float
    options: SpikeOptions

    def execute(self, run_dir: Path, progress: Progress | None) -> Outcome:
        return _execute(self, run_dir, progress)


def corpus_texts(project: Path, package: str, count: int = CORPUS_TEXTS) -> list[str]:
    """Held-out utterances from a chained project's corpus, made by the project's Python."""
    code = (
        "import json, sys\n"
        f"from {package}.pipeline.corpus import generate\n"
        f"json.dump([e.text for e in generate({count}, 0, held_out=True)], sys.stdout)\n"
    )
    interpreter = project_interpreter(project)
    try:
        done = subprocess.run(
            [interpreter.python, "-c", code],
            cwd=project,
            env=interpreter.env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
    except (OSError, subprocess.SubprocessError) as error:
        raise ToolError(
            f"cannot run {interpreter.python} for the project's corpus: {error}"
        ) from None
    if done.returncode != 0:
        tail = "\n".join(done.stderr.splitlines()[-10:])
        raise ToolError(
            f"cannot build request bodies from {package}.pipeline.corpus "
            f"(exit {done.returncode}):\n{tail}",
            hint="install the project first (make install), or give --payloads FILE.ndjson",
        )
    texts: list[str] = json.loads(done.stdout)
    return texts


def plan(
    options: SpikeOptions, where: target.Target, project: Project | None, budget: BudgetUsed
) -> HttpSpike:
    """Check every option and file; raises InputError before anything is written."""
    if not where.path.startswith("/"):
        raise InputError(f"--path: {where.path!r} must start with /")
    profile = profiles.build_profile(
        users=options.users,
        spawn_rate=options.spawn_rate,
        rate=options.rate,
        duration=options.duration,
        find_capacity=options.find_capacity,
        start_rate=options.start_rate,
        max_rate=options.max_rate,
        step_duration=options.step_duration,
        max_search_time=options.max_search_time,
        arrivals=options.arrivals,
        default_rate=budget.min_rps,
    )
    if isinstance(profile, profiles.CapacityProfile) and budget.p99_ms is None:
        raise InputError(
            "--find-capacity needs a p99 budget to know when a rate is too much",
            hint="give --p99-ms, or set budget.p99_ms in mlship.yaml",
        )
    client = profiles.build_client(
        timeout=options.timeout,
        workers=options.workers,
        max_outstanding=options.max_outstanding,
        late_threshold_ms=options.late_threshold_ms,
    )
    folder = where.project
    corpus: Callable[[], list[str]] | None = None
    if folder is not None and project is not None:
        chosen = project

        def corpus() -> list[str]:
            return corpus_texts(chosen.path, chosen.package)

    bodies = payload_source.load(
        payload_file=options.payloads,
        manifest=folder / "models" / "manifest.json" if folder else None,
        pipeline=folder / "models" / "pipeline.json" if folder else None,
        corpus=corpus,
        invalid_share=options.invalid_share,
        rows=options.rows,
    )
    ready = profiles.parse_duration(options.ready_timeout or "60s", "--ready-timeout")
    return HttpSpike(where, profile, client, bodies, budget, ready, options)


def _summarize(records: list[Record], run: LoadRun, invalid_share: float) -> Stats:
    return stats.summarize(
        records,
        offered_rps=run.rate if run.mode == "open" else None,
        late_threshold_ms=run.client.late_threshold_ms,
        max_outstanding=run.client.max_outstanding,
        invalid_share=invalid_share,
    )


@dataclass
class Measured:
    stats: Stats | None
    capacity: Capacity | None
    folders: list[Path]
    interrupted: bool = False


def _load(
    p: HttpSpike, base_url: str, share: float, work: Path, progress: Progress | None
) -> Measured:
    """Run the profile's load; returns the figures and the folders holding raw records."""
    common: dict[str, Any] = {
        "base_url": base_url,
        "path": p.target.path,
        "client": p.client,
        "invalid_share": share,
    }
    profile = p.profile
    if not isinstance(profile, profiles.CapacityProfile):
        if isinstance(profile, profiles.ClosedProfile):
            run = LoadRun(
                mode="closed",
                duration_s=profile.duration_s,
                users=profile.users,
                spawn_rate=profile.spawn_rate,
                **common,
            )
        else:
            run = LoadRun(
                mode="open",
                duration_s=profile.duration_s,
                rate=profile.rate,
                arrivals=profile.arrivals,
                **common,
            )
        try:
            records = run_load(run, p.payloads, work, progress)
        except LoadInterrupted as stopped:
            if not stopped.records:
                return Measured(None, None, [work], interrupted=True)
            return Measured(_summarize(stopped.records, run, share), None, [work], True)
        return Measured(_summarize(records, run, share), None, [work])
    folders: list[Path] = []

    def step(rate: float) -> Stats:
        folder = work / f"step-{len(folders) + 1:02d}"
        folders.append(folder)
        run = LoadRun(
            mode="open",
            duration_s=profile.step_s,
            rate=rate,
            arrivals=profile.arrivals,
            **common,
        )
        if progress is not None:
            progress({"step": len(folders), "rate": rate})
        return _summarize(run_load(run, p.payloads, folder, progress), run, share)

    done: dict[float, Stats] = {}

    def recorded(rate: float) -> Stats:
        figures = step(rate)
        done[rate] = figures
        return figures

    try:
        found, seen = capacity_search.search(profile, p.budget, recorded)
    except LoadInterrupted:
        if not done:
            return Measured(None, None, folders, interrupted=True)
        steps = [capacity_search.assess(rate, s, p.budget) for rate, s in done.items()]
        good = [st.rate for st in steps if st.sustainable]
        found = Capacity(
            sustainable_rps=max(good) if good else None,
            limited_by="interrupted",
            steps=steps,
            elapsed_s=0.0,
        )
        best = found.sustainable_rps
        shown = done[best] if best is not None and best in done else done[min(done)]
        return Measured(shown, found, folders[: len(done)], interrupted=True)
    best = found.sustainable_rps
    shown = seen[best] if best is not None else seen[min(seen)]
    return Measured(shown, found, folders)


def _notes(p: HttpSpike, figures: Stats, found: Capacity | None) -> list[str]:
    notes = []
    if not verdict.has_budget(p.budget):
        notes.append(
            "No budget: neither mlship.yaml nor --p99-ms/--max-error-rate/--min-rps gives one, "
            "so this spike reports its figures without a verdict."
        )
    schedule = figures.schedule
    if schedule and schedule.late > LATE_WARNING_SHARE * schedule.scheduled:
        notes.append(
            f"{schedule.late} of {schedule.scheduled} sends left more than "
            f"{schedule.late_threshold_ms:g} ms late: the load generator could not keep the "
            "schedule (latency still counts from the scheduled time)."
        )
    if isinstance(p.profile, profiles.ClosedProfile):
        notes.append(
            "Closed model: each user waits for its answer before sending again, so a slow "
            "service also slows the load and queueing is hidden; use --rate for the open model."
        )
    if found is not None:
        notes.append(
            "Capacity search: the figures above are those of the highest sustainable step "
            "(or of the lowest step when none was sustainable)."
        )
    return notes


def _execute(p: HttpSpike, run_dir: Path, progress: Progress | None) -> Outcome:
    """Start the service if asked, load it, judge it; the service is always stopped."""
    options = p.options
    share = options.invalid_share
    # the generator's working files stay in the run folder when something fails
    work = run_dir / "work"
    if p.target.start:
        assert p.target.project is not None
        service = target.Service(
            p.target.project, run_dir / "service.log", p.ready_timeout_s, options.serve_command
        )
        try:
            with service:
                measured = _load(p, service.base_url, share, work, progress)
        except KeyboardInterrupt:
            raise Interrupted("interrupted before the load started: nothing measured") from None
        base_url = service.base_url
    else:
        base_url = p.target.base_url
        measured = _load(p, base_url, share, work, progress)
    with shielded():
        if measured.stats is None:
            raise Interrupted("interrupted before any request was answered: nothing measured")
        saved = artifacts.save_raw(measured.folders, run_dir)
        shutil.rmtree(work, ignore_errors=True)
    figures, found = measured.stats, measured.capacity
    _, criteria = verdict.judge(figures, p.budget, found)
    return Outcome(
        target=Target(
            url=base_url,
            path=p.target.path,
            project=str(p.target.project) if p.target.project else None,
            started_by_spike=p.target.start,
        ),
        profile=_profile(p, options),
        stats=figures,
        capacity=found,
        criteria=criteria,
        notes=_notes(p, figures, found),
        artifacts=saved,
        interrupted=measured.interrupted,
    )


def _profile(p: HttpSpike, options: SpikeOptions) -> Profile:
    pr = p.profile
    return Profile(
        kind=pr.kind,
        description=profiles.describe(pr),
        users=pr.users if isinstance(pr, profiles.ClosedProfile) else None,
        spawn_rate=pr.spawn_rate if isinstance(pr, profiles.ClosedProfile) else None,
        rate=pr.rate if isinstance(pr, profiles.OpenProfile) else None,
        duration_s=pr.step_s if isinstance(pr, profiles.CapacityProfile) else pr.duration_s,
        arrivals=None if isinstance(pr, profiles.ClosedProfile) else pr.arrivals,
        workers=p.client.workers,
        timeout_s=p.client.timeout_s,
        invalid_share=options.invalid_share,
        payloads=p.payloads.source,
    )
