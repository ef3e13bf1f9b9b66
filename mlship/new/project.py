"""``mlship new`` as a library call: a ``ProjectSpec`` in, a complete project out.

Every value the templates need is computed once (``mlship.new.plan``) and passed to
copier as data. The project is assembled in a staging folder next to the destination
(same file system) and moved into place only when it is complete, so a failure leaves
the destination as it was. With ``force`` it overwrites the files it
generates and nothing else: user files at other paths are never touched.
"""

from __future__ import annotations

import os
import shlex
import shutil
import tempfile
import time
from pathlib import Path

from mlship.errors import InputError
from mlship.new.destination import check_writable, creation_error
from mlship.new.files import (
    fix_answers_file,
    make_parents,
    move_into,
    relative_files,
    remove_created,
)
from mlship.new.model_import import install_model
from mlship.new.plan import TEMPLATE_VERSION, plan_project
from mlship.new.render import render
from mlship.new.spec import GitOutcome, NewProjectResult, ProjectSpec
from mlship.new.vcs import init_and_commit
from mlship.record import DEFAULT_NAME, write_decision_record
from mlship.version import __version__

RECORD = DEFAULT_NAME


def check_destination(dest: Path, force: bool) -> None:
    """A new or empty folder; a non-empty one only with ``force``."""
    if dest.exists() and not dest.is_dir():
        raise InputError(f"dest: {dest} exists and is not a folder")
    if dest.is_dir() and any(dest.iterdir()) and not force:
        raise InputError(
            f"dest: {dest} is not empty",
            hint="choose a new folder, or pass --force to overwrite the files mlship "
            "generates (other files are kept)",
        )


def _next_commands(dest: Path, main_command: str, demo: bool) -> list[str]:
    shown = os.path.relpath(dest)
    if shown.startswith(".."):
        shown = str(dest)
    steps = [f"cd {shlex.quote(shown)}", "make install"]
    steps += ["make model"] if demo else []
    return [*steps, "make test", main_command]


def new_project(spec: ProjectSpec, dest: Path, force: bool = False) -> NewProjectResult:
    """Render ``spec.pattern`` into ``dest``; on any failure ``dest`` is left as it was."""
    started = time.perf_counter()
    dest = Path(os.path.abspath(Path(dest).expanduser()))
    plan = plan_project(spec, dest)
    check_destination(dest, force)
    check_writable(dest)
    imported = plan.imported
    try:
        created = make_parents(dest.parent)
    except OSError as error:
        raise creation_error(dest, error) from None
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.mlship-", dir=dest.parent))
    except OSError as error:
        remove_created(created)
        raise creation_error(dest, error) from None
    try:
        project = staging / "project"
        project.mkdir()
        render(spec.pattern, project, plan.data, spec.templates, trust=spec.trust)
        manifest = install_model(imported, project / "models") if imported else None
        fix_answers_file(project, spec.pattern, TEMPLATE_VERSION, plan.record.template_overlay)
        write_decision_record(plan.record, project / RECORD, plan.knowledge.spike.criteria)
        files = relative_files(project)
        overwritten = move_into(project, dest)
    except BaseException as error:
        shutil.rmtree(staging, ignore_errors=True)
        remove_created(created)
        if isinstance(error, OSError):
            raise creation_error(dest, error) from error
        raise
    shutil.rmtree(staging, ignore_errors=True)
    render_seconds = time.perf_counter() - started

    git = GitOutcome(note="skipped (--no-git)")
    if spec.git:
        git = init_and_commit(
            dest,
            f"New {spec.pattern} project from mlship {__version__} (template {TEMPLATE_VERSION})",
        )
    return NewProjectResult(
        dest=dest,
        pattern=spec.pattern,
        project_name=plan.project_name,
        package=plan.package,
        model_format=plan.model_format,
        gpu=plan.gpu,
        files=files,
        overwritten=overwritten,
        model=manifest,
        cuda=plan.cuda,
        git=git,
        warnings=plan.warnings,
        next=_next_commands(dest, plan.knowledge.project.main_command, imported is None),
        render_seconds=round(render_seconds, 3),
    )
