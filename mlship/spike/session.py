"""One spike from options to saved result: check everything, run the load, judge, save.

The load follows the project's pattern (its ``kind`` in the knowledge base): requests
for a service, rows through a batch job, events through a broker for a consumer, the
exported variants for an edge export. All input is checked before anything is written
or started, so bad input leaves no run folder (not even ``spikes/``) behind. Whatever a
spike starts is always stopped again; Ctrl-C keeps what was measured, marked interrupted.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlship.errors import InputError, Interrupted
from mlship.spike import (
    artifacts,
    batch_spike,
    edge_spike,
    http_spike,
    stream_spike,
    target,
    verdict,
)
from mlship.spike.options import FLAGS, SpikeOptions
from mlship.spike.project import Project, load_project
from mlship.spike.result import BudgetUsed, SpikeResult
from mlship.spike.runs import Outcome, Progress, Spike

__all__ = ["SpikeOptions", "plan", "run_spike"]

KIND_LOAD = {
    "service": "requests over HTTP",
    "job": "rows through the batch job",
    "consumer": "events through the broker",
    "export": "the exported model variants",
}


RUNNERS: dict[str, Any] = {"job": batch_spike, "consumer": stream_spike, "export": edge_spike}


@dataclass(frozen=True)
class Plan:
    """A checked spike: which load, against which budget, saved where."""

    spike: Spike
    where: target.Target
    project: Project | None
    budget: BudgetUsed
    runs_dir: Path


def _check_out(out: Path | None) -> None:
    if out is None:
        return
    if out.exists() and not out.is_dir():
        raise InputError(
            f"--out: {out} is a file; give a folder for the run folders",
            hint="each run writes <out>/<UTC timestamp>/ with result.json and its reports",
        )
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"--out: {parent} is a file, so {out} cannot be created")
            break


def article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _check_applicable(options: SpikeOptions, kind: str, name: str, allowed: set[str]) -> None:
    stray = sorted(options.given() & set(FLAGS) - allowed)
    if stray:
        flags = ", ".join(FLAGS[s] for s in stray)
        raise InputError(
            f"{flags}: not for {article(name)} {name} project (its spike loads {KIND_LOAD[kind]})",
            hint="docs/spike.md lists the options of each pattern's spike",
        )


def plan(options: SpikeOptions) -> Plan:
    """Check every option and file; raises InputError before anything is written."""
    where = target.resolve(options.target, options.path)
    _check_out(options.out)
    flags = verdict.BudgetFlags(
        options.p99_ms,
        options.max_error_rate,
        options.min_rps,
        options.max_memory_mb,
        options.max_model_mb,
        options.max_lag,
    )
    project = load_project(where.project) if where.project is not None else None
    # a running service at a URL: a record of the current folder only lends its budget
    if not where.start and project is not None and project.kind != "service":
        project = None
    pattern = project.pattern if project is not None else None
    record = project.record if project is not None else None
    kind = project.kind if project is not None else "service"
    name = project.name if project is not None else "service"
    budget = verdict.resolve_budget(record, flags, pattern)
    spike: Spike
    if kind == "service":
        _check_applicable(options, kind, name, http_spike.OPTIONS)
        spike = http_spike.plan(options, where, project, budget)
    else:
        assert project is not None
        module = RUNNERS[kind]
        _check_applicable(options, kind, name, module.OPTIONS)
        spike = module.plan(options, project, budget)
    base = options.out or (where.project or Path.cwd()) / "spikes"
    return Plan(spike, where, project, spike.budget, base)


def _order(outcome: Outcome, p: Plan) -> None:
    """Criteria in the order the pattern's knowledge base lists them."""
    if p.project is None or p.project.pattern is None:
        return
    order = list(p.project.pattern.spike.criteria)
    outcome.criteria.sort(key=lambda c: order.index(c.name) if c.name in order else len(order))


def run_spike(options: SpikeOptions, progress: Progress | None = None) -> SpikeResult:
    """Check, run the pattern's load, judge it and save the run's files."""
    p = plan(options)
    if not p.where.start:  # a running service: it must answer before a run folder is made
        ready = getattr(p.spike, "ready_timeout_s", 60.0)
        target.wait_until_reachable(p.where.base_url, ready)
    created = not p.runs_dir.exists()
    run_dir, started = artifacts.new_run_dir(p.runs_dir)
    try:
        outcome = p.spike.execute(run_dir, progress)
    except (Interrupted, KeyboardInterrupt):
        shutil.rmtree(run_dir, ignore_errors=True)
        if created:
            shutil.rmtree(p.runs_dir, ignore_errors=True)
        raise
    _order(outcome, p)
    notes = list(outcome.notes)
    verdict_value = verdict.overall(outcome.criteria)
    if (
        verdict_value is None
        and not verdict.has_budget(p.budget)
        and not any(n.startswith("No budget") for n in notes)
    ):
        notes.insert(
            0,
            "No budget: neither mlship.yaml nor a flag gives one, so this spike reports "
            "its figures without a verdict.",
        )
    criteria = outcome.criteria
    if outcome.interrupted:
        verdict_value, criteria = None, []
        notes.insert(
            0,
            "Interrupted (Ctrl-C): these are the figures measured until then; a partial run "
            "gets no verdict.",
        )
    result = SpikeResult(
        started=started,
        pattern=p.project.pattern.name if p.project and p.project.pattern else None,
        kind=p.project.kind if p.project else "service",
        interrupted=outcome.interrupted,
        target=outcome.target,
        profile=outcome.profile,
        stats=outcome.stats,
        batch=outcome.batch,
        stream=outcome.stream,
        edge=outcome.edge,
        capacity=outcome.capacity,
        budget=p.budget,
        verdict=verdict_value,
        criteria=criteria,
        notes=notes,
        artifacts=outcome.artifacts,
    )
    return artifacts.save(result, run_dir)
