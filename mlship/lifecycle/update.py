"""``mlship update`` as a library call: render the project's pattern again and merge it with git.

The merge is git's own three-way merge: the base is the pristine render the project
last merged (``mlship.lifecycle.pristine``), one side the team's history, the other a
new pristine render committed on the ``mlship/template`` branch. Conflicts are ordinary
git conflicts (index stages, markers) that ``git status``, ``git mergetool`` and IDEs
understand; files the team deleted stay deleted and files it added are not touched.
The renderer comes from the caller (the CLI hands over ``mlship.new``'s), so this wing
depends on no other.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mlship.contracts import TemplateOverlay
from mlship.errors import InputError
from mlship.lifecycle import merge
from mlship.lifecycle.pristine import (
    Pristine,
    commit_render,
    find_pristine,
    no_pristine_error,
    tree_of,
)
from mlship.lifecycle.repo import Repo, open_repo, require_clean
from mlship.provenance import (
    TEMPLATE_BRANCH,
    ProjectAnswers,
    RenderedTemplate,
    RenderRequest,
    is_older,
    read_answers,
)
from mlship.record import DEFAULT_NAME, read_decision_record, record_template
from mlship.version import __version__

Renderer = Callable[[RenderRequest, Path], RenderedTemplate]
Status = Literal["merged", "conflicts", "up-to-date", "clean", "would-conflict"]

# --data keys that also change the decision record: answer -> (record block, key there)
RECORD_FIELDS = {
    "p99_ms": ("budget", "p99_ms"),
    "max_error_rate": ("budget", "max_error_rate"),
    "min_rps": ("budget", "min_rps"),
    "project_name": ("project", "name"),
    "package": ("project", "package"),
    "model_format": ("project", "model_format"),
    "gpu": ("project", "gpu"),
    "python_version": ("project", "python_version"),
    "cuda_version": ("project", "cuda_version"),
}


class UpdateOptions(BaseModel):
    """What ``mlship update`` is asked to do."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    to: str | None = Field(None, description="A ref of the organisation's source, or a version.")
    data: dict[str, Any] = Field(default_factory=dict, description="Answers to change.")
    dry_run: bool = False
    trust: bool = False
    patterns_dir: Path | None = None


class UpdateResult(BaseModel):
    """What an update did (or would do); its JSON form (``--json``) is a public contract."""

    model_config = ConfigDict(extra="forbid")

    project: Path
    status: Status
    dry_run: bool
    from_version: str
    to_version: str
    from_overlay: TemplateOverlay | None
    to_overlay: TemplateOverlay | None
    data: dict[str, Any] = Field(description="The answers this update changed.")
    changed: list[str]
    added: list[str]
    deleted: list[str]
    conflicts: list[str]
    commit: str | None = Field(description="The merge commit (status merged).")
    template_commit: str | None = Field(description=f"The new pristine render ({TEMPLATE_BRANCH}).")
    next: list[str] = Field(description="What to do next, in order.")


def _check_target(answers: ProjectAnswers, to: str | None) -> str | None:
    """The overlay ref ``--to`` names (None: keep the recorded one); refuse unknown versions."""
    if is_older(__version__, answers.version):
        raise InputError(
            f"the project is on template {answers.version}, newer than this mlship ({__version__})",
            hint=f"install mlship>={answers.version} to update it",
        )
    if to is None:
        return None
    if answers.overlay is not None:
        return to
    if to.lstrip("v") != __version__:
        raise InputError(
            f"to: unknown version {to!r}: this mlship ships the templates of {__version__}",
            hint=f"install mlship=={to.lstrip('v')} to update to it, or leave --to out",
        )
    return None


def _message(pristine: Pristine, rendered: RenderedTemplate, changes: dict[str, Any]) -> str:
    old, new = pristine.answers, rendered
    text = f"Update the {old.pattern} template from mlship {old.version} to {new.version}"
    if old.version == new.version:
        text = f"Update the {old.pattern} template (mlship {new.version})"
    before = old.overlay.ref or (old.overlay.commit or "")[:12] if old.overlay else None
    after = new.overlay.ref or (new.overlay.commit or "")[:12] if new.overlay else None
    if new.overlay is not None:
        text += f" and {new.overlay.source} from {before or 'none'} to {after}"
    if changes:
        text += " with " + ", ".join(f"{k}={v}" for k, v in sorted(changes.items()))
    return text


def _record_changes(
    repo: Repo, changes: dict[str, Any], rendered: RenderedTemplate
) -> dict[str, Any]:
    """The decision record's blocks that ``--data`` changes, with their new values."""
    record = read_decision_record(repo.root / DEFAULT_NAME)
    if "gpu" in changes and "cuda_version" not in changes:  # the CUDA build the render chose
        changes = {**changes, "cuda_version": (rendered.data.get("cuda") or {}).get("cuda_version")}
    current = {"budget": record.budget.model_dump(), "project": dict(record.project)}
    blocks: dict[str, Any] = {}
    for key, value in changes.items():
        if key in RECORD_FIELDS:
            block, name = RECORD_FIELDS[key]
            blocks[block] = current[block]
            current[block][name] = None if name == "min_rps" and not value else value
    return blocks


def _merge(
    repo: Repo, template: str, message: str, rendered: RenderedTemplate, changes: dict[str, Any]
) -> tuple[str | None, merge.Changes]:
    """Merge ``template`` into HEAD, record the new template in mlship.yaml, commit if clean."""
    blocks = _record_changes(repo, changes, rendered)
    conflicts = merge.start(repo, template)
    record_template(repo.root / DEFAULT_NAME, rendered.version, rendered.overlay, **blocks)
    repo.out("add", "--", DEFAULT_NAME)
    found = merge.staged(repo, conflicts)
    return merge.finish(repo, message, conflicts), found


def _next_steps(status: Status, conflicts: list[str]) -> list[str]:
    if status == "conflicts":
        return [
            f"resolve the conflicts in {', '.join(conflicts)} (git status; git mergetool)",
            "git add <files> && git commit --no-edit",
            "or give up the update: git merge --abort",
        ]
    if status == "would-conflict":
        return ["run mlship update without --dry-run, then resolve the conflicts with git"]
    if status == "clean":
        return ["run mlship update without --dry-run to merge"]
    return []


@dataclass
class _Outcome:
    status: Status
    changes: merge.Changes = field(default_factory=merge.Changes)
    commit: str | None = None
    template_commit: str | None = None


def _apply(
    repo: Repo,
    tmp: Path,
    pristine: Pristine,
    rendered: RenderedTemplate,
    options: UpdateOptions,
) -> _Outcome:
    """Commit the render on top of the base, then merge it (or tell what a merge would do)."""
    message = _message(pristine, rendered, options.data)
    if options.dry_run:  # new objects go to a throw-away store; the repository stays as it was
        objects = tmp / "objects"
        objects.mkdir()
        repo = repo.with_env(
            GIT_OBJECT_DIRECTORY=str(objects),
            GIT_ALTERNATE_OBJECT_DIRECTORIES=str(repo.git_path("objects")),
        )
    template = commit_render(repo, tmp / "render", pristine.commit, message)
    if tree_of(repo, template) == tree_of(repo, pristine.commit):
        return _Outcome("up-to-date")
    if options.dry_run:
        found = merge.preview(repo, template)
        return _Outcome("would-conflict" if found.conflicts else "clean", found)
    repo.out("update-ref", f"refs/heads/{TEMPLATE_BRANCH}", template)
    commit, found = _merge(repo, template, message, rendered, options.data)
    return _Outcome("conflicts" if found.conflicts else "merged", found, commit, template)


def update_project(project: Path, options: UpdateOptions, render: Renderer) -> UpdateResult:
    """Bring ``project`` to this mlship's templates (and its source's ref); see module doc."""
    project = Path(project).expanduser().resolve()
    if not project.is_dir():
        raise InputError(f"{project} is not a folder", hint="give the project's folder")
    answers = read_answers(project)
    record = read_decision_record(project / DEFAULT_NAME)
    repo = open_repo(project)
    require_clean(repo)
    overlay_ref = _check_target(answers, options.to)
    pristine = find_pristine(repo)
    if pristine is None:
        raise no_pristine_error(repo)
    cuda = record.project.get("cuda_version")
    request = RenderRequest(
        answers=answers,
        changes=dict(options.data),
        overlay_ref=overlay_ref,
        trust=options.trust,
        patterns_dir=options.patterns_dir,
        cuda_version=str(cuda) if cuda else None,
    )
    with tempfile.TemporaryDirectory(prefix="mlship-update-") as tmp:
        (Path(tmp) / "render").mkdir()
        rendered = render(request, Path(tmp) / "render")
        outcome = _apply(repo, Path(tmp), pristine, rendered, options)
    return UpdateResult(
        project=project,
        status=outcome.status,
        dry_run=options.dry_run,
        from_version=answers.version,
        to_version=rendered.version,
        from_overlay=answers.overlay,
        to_overlay=rendered.overlay,
        data=dict(options.data),
        changed=outcome.changes.changed,
        added=outcome.changes.added,
        deleted=outcome.changes.deleted,
        conflicts=outcome.changes.conflicts,
        commit=outcome.commit,
        template_commit=outcome.template_commit,
        next=_next_steps(outcome.status, outcome.changes.conflicts),
    )
