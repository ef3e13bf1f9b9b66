"""One spike from options to saved result: check everything, start, load, judge, save.

All input is checked before anything is written or started, so bad input leaves no
half-made run folder behind. The service a spike starts is always stopped again.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlship.errors import InputError
from mlship.record import find_decision_record
from mlship.spike import artifacts, profiles, stats, target, verdict
from mlship.spike import capacity as capacity_search
from mlship.spike import payloads as payload_source
from mlship.spike.records import Record
from mlship.spike.result import BudgetUsed, Capacity, Profile, SpikeResult, Stats, Target
from mlship.spike.runner import LoadRun, run_load

Progress = Callable[[dict[str, Any]], None]
LATE_WARNING_SHARE = 0.01


@dataclass(frozen=True)
class SpikeOptions:
    """The spike command's options, unchecked (the CLI passes them through as given)."""

    target: str = "."
    path: str | None = None
    users: int | None = None
    spawn_rate: float | None = None
    rate: float | None = None
    duration: str | None = None
    arrivals: str = "uniform"
    find_capacity: bool = False
    start_rate: float | None = None
    max_rate: float | None = None
    step_duration: str | None = None
    max_search_time: str | None = None
    workers: int = 1
    timeout: str | None = None
    max_outstanding: int = 1000
    late_threshold_ms: float = 20.0
    payloads: Path | None = None
    invalid_share: float = 0.0
    rows: int = 1
    p99_ms: float | None = None
    max_error_rate: float | None = None
    min_rps: float | None = None
    out: Path | None = None
    ready_timeout: str | None = None
    serve_command: str | None = None


@dataclass(frozen=True)
class Plan:
    """Everything checked: what to load, how, and against which budget."""

    target: target.Target
    profile: profiles.Profile
    client: profiles.ClientSettings
    payloads: payload_source.Payloads
    budget: BudgetUsed
    ready_timeout_s: float
    runs_dir: Path


def plan(options: SpikeOptions) -> Plan:
    """Check every option and file; raises InputError before anything is written."""
    where = target.resolve(options.target, options.path)
    if not where.path.startswith("/"):
        raise InputError(f"--path: {where.path!r} must start with /")
    record = find_decision_record(where.project)
    budget = verdict.resolve_budget(
        record, verdict.BudgetFlags(options.p99_ms, options.max_error_rate, options.min_rps)
    )
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
    manifest = where.project / "models" / "manifest.json" if where.project else None
    bodies = payload_source.load(
        payload_file=options.payloads,
        manifest=manifest,
        invalid_share=options.invalid_share,
        rows=options.rows,
    )
    ready = profiles.parse_duration(options.ready_timeout or "60s", "--ready-timeout")
    base = options.out or (where.project or Path.cwd()) / "spikes"
    return Plan(where, profile, client, bodies, budget, ready, base)


def _summarize(records: list[Record], run: LoadRun, invalid_share: float) -> Stats:
    return stats.summarize(
        records,
        offered_rps=run.rate if run.mode == "open" else None,
        late_threshold_ms=run.client.late_threshold_ms,
        max_outstanding=run.client.max_outstanding,
        invalid_share=invalid_share,
    )


def _load(
    p: Plan, base_url: str, share: float, work: Path, progress: Progress | None
) -> tuple[Stats, Capacity | None, list[Path]]:
    """Run the profile's load; returns the figures and the folders holding raw records."""
    common: dict[str, Any] = {
        "base_url": base_url,
        "path": p.target.path,
        "client": p.client,
        "invalid_share": share,
    }
    profile = p.profile
    if isinstance(profile, profiles.ClosedProfile):
        run = LoadRun(
            mode="closed",
            duration_s=profile.duration_s,
            users=profile.users,
            spawn_rate=profile.spawn_rate,
            **common,
        )
        return _summarize(run_load(run, p.payloads, work, progress), run, share), None, [work]
    if isinstance(profile, profiles.OpenProfile):
        run = LoadRun(
            mode="open",
            duration_s=profile.duration_s,
            rate=profile.rate,
            arrivals=profile.arrivals,
            **common,
        )
        return _summarize(run_load(run, p.payloads, work, progress), run, share), None, [work]
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

    found, seen = capacity_search.search(profile, p.budget, step)
    best = found.sustainable_rps
    shown = seen[best] if best is not None else seen[min(seen)]
    return shown, found, folders


def _notes(p: Plan, figures: Stats, found: Capacity | None) -> list[str]:
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


def run_spike(options: SpikeOptions, progress: Progress | None = None) -> SpikeResult:
    """Check, start the service if asked, load it, judge it and save the run's files."""
    p = plan(options)
    if not p.target.start:
        target.wait_until_reachable(p.target.base_url, p.ready_timeout_s)
    run_dir, started = artifacts.new_run_dir(p.runs_dir)
    share = options.invalid_share
    # the generator's working files stay in the run folder when something fails
    work = run_dir / "work"
    if p.target.start:
        assert p.target.project is not None
        service = target.Service(
            p.target.project, run_dir / "service.log", p.ready_timeout_s, options.serve_command
        )
        with service:
            figures, found, folders = _load(p, service.base_url, share, work, progress)
        base_url = service.base_url
    else:
        base_url = p.target.base_url
        figures, found, folders = _load(p, base_url, share, work, progress)
    saved = artifacts.save_raw(folders, run_dir)
    shutil.rmtree(work, ignore_errors=True)
    verdict_value, criteria = verdict.judge(figures, p.budget, found)
    result = SpikeResult(
        started=started,
        target=Target(
            url=base_url,
            path=p.target.path,
            project=str(p.target.project) if p.target.project else None,
            started_by_spike=p.target.start,
        ),
        profile=_profile(p, options),
        stats=figures,
        capacity=found,
        budget=p.budget,
        verdict=verdict_value,
        criteria=criteria,
        notes=_notes(p, figures, found),
        artifacts=saved,
    )
    return artifacts.save(result, run_dir)


def _profile(p: Plan, options: SpikeOptions) -> Profile:
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
