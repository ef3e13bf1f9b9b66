"""``mlship check`` as a library call: a project folder in, a ``CheckResult`` out."""

from __future__ import annotations

import time
from pathlib import Path

from mlship.errors import InputError
from mlship.gitcmd import git_available, run_git
from mlship.lifecycle.check.check_waivers import applicable
from mlship.lifecycle.check.context import Context
from mlship.lifecycle.check.findings import CheckResult, Finding, ProjectInfo, TemplateState
from mlship.lifecycle.check.registry import CHECKS
from mlship.lifecycle.check.rules import load_rules
from mlship.lifecycle.repo import Repo
from mlship.provenance import ProjectAnswers, is_older, read_answers
from mlship.record import DEFAULT_NAME, read_decision_record
from mlship.version import __version__

WAIVER_RULES = ("check.waiver", "check.waiver-expired")  # never waived themselves


def _kind(answers: ProjectAnswers, patterns_dir: Path | None) -> str:
    """The pattern's kind: recorded since 0.2.0, else from the knowledge base."""
    recorded = answers.data.get("kind")
    if isinstance(recorded, str) and recorded:
        return recorded
    # only projects of mlship 0.1.0 get here: loading the knowledge base costs ~0.1 s of
    # start-up that every other check run is spared
    from mlship.knowledge.patterns import load_named_pattern

    return load_named_pattern(answers.pattern, patterns_dir).kind


def _repo(root: Path) -> Repo | None:
    if not git_available():
        return None
    top = run_git(root, "rev-parse", "--show-toplevel")
    if top.returncode != 0 or Path(top.stdout.strip()).resolve() != root.resolve():
        return None
    return Repo(root)


def _waived(ctx: Context, finding: Finding) -> Finding:
    if finding.rule in WAIVER_RULES:
        return finding
    waived, reason = applicable(ctx, finding.rule)
    return (
        finding.model_copy(update={"waived": True, "waiver_reason": reason}) if waived else finding
    )


def check_project(
    project: Path, strict: bool = False, patterns_dir: Path | None = None
) -> CheckResult:
    """Run every rule that applies to ``project``; waivers applied, ``strict`` counts
    warnings as errors."""
    started = time.perf_counter()
    root = Path(project).expanduser().resolve()
    if not root.is_dir():
        raise InputError(f"{root} is not a folder", hint="give the project's folder")
    answers = read_answers(root)
    record = read_decision_record(root / DEFAULT_NAME)
    rules = load_rules(patterns_dir, CHECKS)
    ctx = Context(
        root,
        record,
        answers,
        _kind(answers, patterns_dir),
        bool(answers.data.get("gpu", False)),
        _repo(root),
        rule_ids=[r.id for r in rules],
        patterns_dir=patterns_dir,
    )
    findings: list[Finding] = []
    ran = []
    for rule in rules:
        if not rule.applies_to(ctx.pattern, ctx.kind):
            continue
        ran.append(rule.model_dump(include={"id", "area", "severity", "summary", "hint"}))
        for finding in CHECKS[rule.check](ctx, rule):
            if strict and finding.severity == "warning":
                finding = finding.model_copy(update={"severity": "error"})
            findings.append(_waived(ctx, finding))
    return CheckResult(
        ok=not any(f.severity == "error" and not f.waived for f in findings),
        project=ProjectInfo(
            path=str(root),
            name=str(answers.data.get("project_name", root.name)),
            pattern=answers.pattern,
            kind=ctx.kind,
        ),
        template=TemplateState(
            version=answers.version,
            latest=__version__,
            outdated=is_older(answers.version, __version__),
        ),
        findings=findings,
        rules=ran,
        seconds=round(time.perf_counter() - started, 4),
    )
