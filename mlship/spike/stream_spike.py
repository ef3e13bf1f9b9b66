"""The spike of a streaming consumer: events at a rate through a real broker, end to end.

spike starts a Kafka-protocol broker of its own (Tansu, from the project's dev
dependencies; or uses ``--bootstrap``), creates the project's topics with its own
``topics`` command, starts its consumer with its main command (``make run``) and waits
until it is ready. The load is the project's own open-model generator
(``python -m <package>.streaming.spike``): events sent on a fixed schedule, each timed from
its scheduled send time to its prediction (late sends counted), one raw record per event.
The verdict compares the end-to-end p99, the sustained throughput in events/s, the
consumer group's lag when the run ends and the dead-letter (and missing) rate with the
budget. ``--find-capacity`` steps the rate up to the highest rate within the budget.
Everything spike started is stopped again, the consumer first.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from mlship.errors import InputError, Interrupted, ToolError
from mlship.spike import capacity as capacity_search
from mlship.spike import profiles, stream_services, verdict
from mlship.spike.options import SpikeOptions
from mlship.spike.project import Project, project_interpreter
from mlship.spike.result import (
    BudgetUsed,
    Capacity,
    Criterion,
    Profile,
    Stats,
    StreamStats,
    Target,
)
from mlship.spike.runs import Outcome, Progress
from mlship.spike.stream_load import Limits, Run, run_load
from mlship.spike.stream_services import Consumer, StreamProject

OPTIONS = {
    "rate",
    "duration",
    "arrivals",
    "find_capacity",
    "start_rate",
    "max_rate",
    "step_duration",
    "max_search_time",
    "timeout",
    "late_threshold_ms",
    "ready_timeout",
    "serve_command",
    "bootstrap",
}
DEFAULT_RATE = 100.0  # events/s when neither a flag nor the budget sets a rate
DEFAULT_WAIT = "30s"


@dataclass(frozen=True)
class StreamSpike:
    """A checked streaming spike: the project, the load's shape, the broker, the budget."""

    project: Project
    runtime: StreamProject
    budget: BudgetUsed
    profile: profiles.OpenProfile | profiles.CapacityProfile
    limits: Limits
    bootstrap: str | None

    def execute(self, run_dir: Path, progress: Progress | None) -> Outcome:
        return _execute(self, run_dir, progress)


def _check_bootstrap(text: str) -> str:
    """A ``host:port`` where a broker answers now (checked before a run folder is made)."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"--bootstrap: {text!r} is not host:port (e.g. 127.0.0.1:9092)")
    if not stream_services.accepting(host, int(port)):
        raise ToolError(f"--bootstrap {text}: no broker answers there")
    return text


def plan(options: SpikeOptions, project: Project, budget: BudgetUsed) -> StreamSpike:
    if not (project.path / "models" / "manifest.json").is_file():
        raise InputError(
            f"{project.path}: no models/manifest.json, so the consumer has no model",
            hint="run `make model` in the project first",
        )
    _ = project.package  # unknown: bad input now, before anything starts
    profile = profiles.build_profile(
        users=None,
        spawn_rate=None,
        rate=options.rate,
        duration=options.duration,
        find_capacity=options.find_capacity,
        start_rate=options.start_rate,
        max_rate=options.max_rate,
        step_duration=options.step_duration,
        max_search_time=options.max_search_time,
        arrivals=options.arrivals,
        default_rate=budget.min_rps or DEFAULT_RATE,
    )
    assert not isinstance(profile, profiles.ClosedProfile)  # a default rate is always given
    profiles.positive(options.late_threshold_ms, "--late-threshold-ms")
    runtime = StreamProject(
        path=project.path,
        package=project.package,
        interpreter=project_interpreter(project.path),
        main_command=project.main_command,
        command=options.serve_command,
        ready_timeout_s=profiles.parse_duration(options.ready_timeout or "60s", "--ready-timeout"),
    )
    limits = Limits(
        p99_ms=budget.p99_ms or 1000.0,
        late_threshold_ms=options.late_threshold_ms,
        wait_s=profiles.parse_duration(options.timeout or DEFAULT_WAIT, "--timeout"),
    )
    return StreamSpike(
        project=project,
        runtime=runtime,
        budget=budget,
        profile=profile,
        limits=limits,
        bootstrap=_check_bootstrap(options.bootstrap) if options.bootstrap else None,
    )


def _stream_stats(
    p: StreamSpike, run: Run, bootstrap: str, consumer: Consumer, topics: dict[str, str]
) -> StreamStats:
    r = run.report
    events = int(r.get("events", 0)) or 1
    dead = int(r.get("dead_lettered", 0))
    lag = r.get("lag_at_end")
    schedule = r.get("schedule") or {}
    return StreamStats(
        bootstrap=bootstrap,
        input_topic=topics["input"],
        output_topic=topics["output"],
        dlq_topic=topics["dlq"],
        produced=int(schedule.get("sent", events)),
        predictions=int(r.get("received", 0)),
        duplicates=int(r.get("duplicates", 0)),
        dead_lettered=dead,
        missing=int(r.get("missing", 0)),
        dlq_rate=round(dead / events, 6),
        end_lag=int(lag) if isinstance(lag, int) else None,
        lag_detail=f"group {topics['group']}: events of this run not yet committed",
        broker_started_by_spike=p.bootstrap is None,
        consumer_stopped_at_s=None
        if consumer.stopped_at is None
        else round(consumer.stopped_at - consumer.started, 3),
    )


def _search(
    p: StreamSpike,
    profile: profiles.CapacityProfile,
    env: dict[str, str],
    work: Path,
    consumer: Consumer,
    runs: list[Run],
    progress: Progress | None,
) -> Capacity:
    """Step the rate up (doubling, then bisecting) to the highest rate within budget."""

    def step(rate: float) -> Stats:
        if progress is not None:
            progress({"step": len(runs) + 1, "rate": rate})
        folder = work / f"step-{len(runs) + 1:02d}"
        run = run_load(
            p.runtime,
            env,
            rate,
            profile.step_s,
            profile.arrivals,
            p.limits,
            folder,
            consumer,
            progress,
        )
        run.rate = rate
        runs.append(run)
        return run.stats

    found, _ = capacity_search.search(profile, p.budget, step)
    return found


def _partial_capacity(p: StreamSpike, runs: list[Run]) -> Capacity:
    steps = [capacity_search.assess(r.rate, r.stats, p.budget) for r in runs]
    good = [st.rate for st in steps if st.sustainable]
    return Capacity(
        sustainable_rps=max(good) if good else None,
        limited_by="interrupted",
        steps=steps,
        elapsed_s=0.0,
    )


def _shown(runs: list[Run], found: Capacity | None) -> Run:
    """The run the report shows: the only one, or the highest sustainable step."""
    if found is None or len(runs) == 1:
        return runs[-1]
    best = found.sustainable_rps
    if best is not None:
        for run in runs:
            if abs(run.rate - best) < 1e-6:
                return run
    return min(runs, key=lambda r: r.rate)


def _save(run_dir: Path, runs: list[Run], work: Path) -> dict[str, str]:
    """Each run's raw records next to the reports; the generator's log kept."""
    artifacts = {"dir": str(run_dir)}
    for i, run in enumerate(runs):
        suffix = "" if len(runs) == 1 else f"-step-{i + 1:02d}"
        raw = run_dir / f"events{suffix}.csv"
        raw.write_text(run.records.read_text(encoding="utf-8"), encoding="utf-8")
        artifacts["raw" if len(runs) == 1 else f"raw{suffix}"] = str(raw)
        log = run.records.parent / "load.log"
        if log.is_file():
            (run_dir / f"load{suffix}.log").write_text(
                log.read_text(encoding="utf-8", errors="replace"), encoding="utf-8"
            )
    for name in ("consumer", "broker", "topics"):
        if (run_dir / f"{name}.log").is_file():
            artifacts[f"{name}_log"] = str(run_dir / f"{name}.log")
    shutil.rmtree(work, ignore_errors=True)
    return artifacts


def _notes(p: StreamSpike, run: Run, s: StreamStats) -> list[str]:
    notes = []
    schedule = run.stats.schedule
    if schedule and schedule.late > 0.01 * schedule.scheduled:
        notes.append(
            f"{schedule.late} of {schedule.scheduled} events left more than "
            f"{schedule.late_threshold_ms:g} ms after their scheduled time: the load "
            "generator could not keep the schedule (latency still counts from the "
            "scheduled time)."
        )
    if s.consumer_stopped_at_s is not None:
        notes.append(
            f"The consumer exited {s.consumer_stopped_at_s:g} s after it started, during "
            "the run; see consumer.log."
        )
    if s.broker_started_by_spike:
        notes.append(
            "The broker is one spike started (Tansu, in memory, on loopback): latency here "
            "includes no network; a production broker adds its own."
        )
    return notes


def _profile(p: StreamSpike) -> Profile:
    pr = p.profile
    if isinstance(pr, profiles.OpenProfile):
        description = (
            f"open model: {pr.rate:g} events/s ({pr.arrivals} arrivals) for "
            f"{pr.duration_s:g} s through the broker"
        )
        return Profile(
            kind="open",
            description=description,
            rate=pr.rate,
            duration_s=pr.duration_s,
            arrivals=pr.arrivals,
            timeout_s=p.limits.wait_s,
            payloads="generated by the project's own load generator from its manifest",
        )
    return Profile(
        kind="capacity",
        description=(
            f"capacity search: open model from {pr.start_rate:g} events/s, steps of "
            f"{pr.step_s:g} s, at most {pr.max_time_s:g} s in all"
        ),
        duration_s=pr.step_s,
        arrivals=pr.arrivals,
        timeout_s=p.limits.wait_s,
        payloads="generated by the project's own load generator from its manifest",
    )


def _criteria(
    figures: Stats, s: StreamStats, p: StreamSpike, found: Capacity | None
) -> list[Criterion]:
    _, criteria = verdict.judge(figures, p.budget, found)
    if p.budget.max_lag is not None:
        c = verdict.check_at_most(
            "max_lag",
            None if s.end_lag is None else float(s.end_lag),
            float(p.budget.max_lag),
            "consumer lag at the end",
            "events",
            "the consumer group's lag could not be read at the end",
        )
        if not c.passed and s.consumer_stopped_at_s is not None:
            c.reason += f" (the consumer exited {s.consumer_stopped_at_s:g} s after it started)"
        criteria.append(c)
    return criteria


def _execute(p: StreamSpike, run_dir: Path, progress: Progress | None) -> Outcome:
    work = run_dir / "work"
    profile = p.profile
    runs: list[Run] = []
    found: Capacity | None = None
    interrupted = False
    if progress is not None:
        progress({"line": "starting the broker, the topics and the consumer"})
    try:
        sp = p.runtime
        with stream_services.broker(sp, p.bootstrap, run_dir / "broker.log") as bootstrap:
            env = sp.interpreter.env(APP_BOOTSTRAP_SERVERS=bootstrap)
            topics = stream_services.project_settings(sp, env, run_dir / "topics.log")
            stream_services.create_topics(sp, env, run_dir / "topics.log")
            with stream_services.consumer(sp, env, run_dir / "consumer.log") as consumer:
                try:
                    if isinstance(profile, profiles.OpenProfile):
                        runs.append(
                            run_load(
                                sp,
                                env,
                                profile.rate,
                                profile.duration_s,
                                profile.arrivals,
                                p.limits,
                                work / "run",
                                consumer,
                                progress,
                            )
                        )
                    else:
                        found = _search(p, profile, env, work, consumer, runs, progress)
                except KeyboardInterrupt:
                    interrupted = True
                stream_consumer = consumer
    except KeyboardInterrupt:
        raise Interrupted("interrupted before the load started: nothing measured") from None
    if not runs:
        raise Interrupted("interrupted before a run of events finished: nothing measured")
    if interrupted and found is None and isinstance(profile, profiles.CapacityProfile):
        found = _partial_capacity(p, runs)
    shown = _shown(runs, found)
    stream = _stream_stats(p, shown, bootstrap, stream_consumer, topics)
    artifacts = _save(run_dir, runs, work)
    notes = _notes(p, shown, stream)
    return Outcome(
        target=Target(url=None, path=None, project=str(p.project.path), started_by_spike=True),
        profile=_profile(p),
        stats=shown.stats,
        stream=stream,
        capacity=found,
        criteria=_criteria(shown.stats, stream, p, found),
        notes=notes,
        artifacts=artifacts,
        interrupted=interrupted,
    )
