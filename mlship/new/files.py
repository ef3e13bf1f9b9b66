"""File-system steps of ``mlship new`` that must never lose or half-write user files.

A project is built in a staging folder and moved into the destination at the end:
renamed in one step when the destination does not exist yet, or file by file (after
every conflict is checked) when it does. Nothing here deletes a file it did not create.
"""

from __future__ import annotations

import os
from pathlib import Path

from mlship.contracts import TemplateOverlay
from mlship.errors import InputError
from mlship.provenance import ANSWERS_FILE, stamp_answers


def make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; return the ones created, outermost first."""
    missing: list[Path] = []
    current = folder
    while not current.exists():
        missing.append(current)
        current = current.parent
    if not current.is_dir():
        raise InputError(f"dest: {current} is a file, so nothing can be created under it")
    missing.reverse()
    for path in missing:
        path.mkdir()
    return missing


def remove_created(created: list[Path]) -> None:
    """Undo ``make_parents``: remove the folders it made, innermost first, if still empty."""
    for path in reversed(created):
        try:
            path.rmdir()
        except OSError:
            break


def relative_files(root: Path) -> list[str]:
    """Every file under ``root`` as sorted POSIX paths relative to it."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if not p.is_dir())


def _conflicts(source: Path, dest: Path, files: list[str]) -> list[str]:
    """Paths where a generated file cannot go without deleting or following something."""
    problems: list[str] = []
    for rel in files:
        parts = Path(rel).parts
        for depth in range(1, len(parts)):
            ancestor = dest.joinpath(*parts[:depth])
            if ancestor.is_symlink():
                problems.append(
                    f"{ancestor}: is a symbolic link (mlship does not write through it)"
                )
                break
            if ancestor.exists() and not ancestor.is_dir():
                problems.append(f"{ancestor}: is a file where mlship generates a folder")
                break
        target = dest / rel
        if target.is_dir() and not target.is_symlink():
            problems.append(f"{target}: is a folder where mlship generates a file")
    return sorted(set(problems))


def move_into(source: Path, dest: Path) -> list[str]:
    """Move the finished project into ``dest``; return the existing files it replaced."""
    if not dest.exists():
        source.rename(dest)
        return []
    files = relative_files(source)
    problems = _conflicts(source, dest, files)
    if problems:
        raise InputError(
            f"dest: cannot write the project into {dest} without removing your files",
            problems=problems,
            hint="move those paths away, or choose a new folder",
        )
    overwritten = [rel for rel in files if (dest / rel).exists() or (dest / rel).is_symlink()]
    for rel in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source / rel, target)
    return overwritten


def fix_answers_file(
    project: Path, pattern: str, template_version: str, overlay: TemplateOverlay | None = None
) -> None:
    """Point copier's answers at the template inside mlship (and the organisation's source)
    instead of the staging folder."""
    path = project / ANSWERS_FILE
    if not path.exists():
        return
    text = path.read_text(encoding="utf-8")
    path.write_text(stamp_answers(text, pattern, template_version, overlay), encoding="utf-8")
