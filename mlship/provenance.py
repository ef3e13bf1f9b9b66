"""Which templates a project was rendered from: the answers file and the pristine renders.

``mlship new`` and ``mlship update`` write ``.copier-answers.yml`` with copier's keys
(``_src_path: mlship:templates/<pattern>``, ``_commit: <template version>``) plus, for an
organisation's template source, ``_overlay_src``, ``_overlay_ref`` and ``_overlay_commit``
(the commit the ref resolved to). The pristine renders (the project exactly as the
templates made it, before any team edit) are commits on the ``mlship/template`` branch
of the project's own repository; projects of mlship 0.1.0 have only their first commit.
Both ``new`` and ``lifecycle`` read this module, so the format has one owner.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlship.contracts import TemplateOverlay
from mlship.errors import InputError
from mlship.yaml_io import load_yaml, read_text_file

ANSWERS_FILE = ".copier-answers.yml"
SOURCE_PREFIX = "mlship:templates/"
TEMPLATE_BRANCH = "mlship/template"
# Answers that mlship 0.1.0 recorded under another name (old name -> current name).
RENAMED_ANSWERS = {"target_rps": "min_rps"}

_OVERLAY_KEYS = {"source": "_overlay_src", "ref": "_overlay_ref", "commit": "_overlay_commit"}
_NOT_MLSHIP = "not an mlship project"


@dataclass(frozen=True)
class ProjectAnswers:
    """What a project's answers file says: pattern, template version, source, data."""

    pattern: str
    version: str
    overlay: TemplateOverlay | None
    data: dict[str, Any] = field(default_factory=dict)


def parse_answers(text: str, where: Path | str) -> ProjectAnswers:
    """Read an answers file's text; anything that is not mlship's is bad input."""
    hint = "run mlship in a project made by `mlship new` (it has .copier-answers.yml)"
    try:
        raw = load_yaml(text)
    except Exception as error:  # yaml.YAMLError and friends
        raise InputError(f"{where}: not valid YAML ({error})", hint=hint) from None
    if not isinstance(raw, dict):
        raise InputError(f"{where}: {_NOT_MLSHIP} (the answers file is not a mapping)", hint=hint)
    source = str(raw.get("_src_path") or "")
    if not source.startswith(SOURCE_PREFIX):
        raise InputError(
            f"{where}: {_NOT_MLSHIP} (_src_path is {source or 'missing'!r}, "
            f"not {SOURCE_PREFIX}<pattern>)",
            hint=hint,
        )
    version = raw.get("_commit")
    if version in (None, ""):
        raise InputError(f"{where}: _commit (the template version) is missing", hint=hint)
    overlay = None
    if raw.get(_OVERLAY_KEYS["source"]):
        ref, commit = raw.get(_OVERLAY_KEYS["ref"]), raw.get(_OVERLAY_KEYS["commit"])
        overlay = TemplateOverlay(
            source=str(raw[_OVERLAY_KEYS["source"]]),
            ref=None if ref is None else str(ref),
            commit=None if commit is None else str(commit),
        )
    data = {
        RENAMED_ANSWERS.get(str(k), str(k)): v for k, v in raw.items() if not str(k).startswith("_")
    }
    return ProjectAnswers(source[len(SOURCE_PREFIX) :], str(version), overlay, data)


def read_answers(project: Path) -> ProjectAnswers:
    """The answers file of ``project``."""
    path = project / ANSWERS_FILE
    hint = "run mlship in a project made by `mlship new` (it has .copier-answers.yml)"
    return parse_answers(read_text_file(path, InputError, "answers file", hint), path)


def _scalar(value: str | None) -> str:
    return "null" if value is None else "'" + value.replace("'", "''") + "'"


def stamp_answers(
    text: str, pattern: str, version: str, overlay: TemplateOverlay | None = None
) -> str:
    """Point copier's answers at mlship's templates (and the overlay), keeping the rest."""
    text = re.sub(r"(?m)^(_commit|_overlay_src|_overlay_ref|_overlay_commit):.*\n", "", text)
    lines = [f"_commit: {_scalar(version)}", f"_src_path: {SOURCE_PREFIX}{pattern}"]
    if overlay is not None:
        lines += [
            f"{key}: {_scalar(getattr(overlay, name))}" for name, key in _OVERLAY_KEYS.items()
        ]
    stamp = "\n".join(lines)
    if re.search(r"(?m)^_src_path:.*$", text):
        return re.sub(r"(?m)^_src_path:.*$", lambda _: stamp, text, count=1)
    return f"{stamp}\n{text}"


def version_key(version: str) -> tuple[int, ...] | None:
    """``"0.2.0"`` -> ``(0, 2, 0)``; ``None`` where the version is not dotted numbers."""
    parts = version.strip().lstrip("v").split(".")
    if not all(p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts)


def is_older(version: str, than: str) -> bool:
    """``version`` is an earlier release than ``than`` (unknown forms are never older)."""
    mine, theirs = version_key(version), version_key(than)
    return mine is not None and theirs is not None and mine < theirs


@dataclass(frozen=True)
class RenderRequest:
    """Render a project's pattern again: its recorded answers, changed by ``changes``.

    ``overlay_ref`` moves the organisation's source to another ref (``None``: the recorded
    one, re-resolved, so a branch brings its newest commit).
    """

    answers: ProjectAnswers
    changes: dict[str, Any] = field(default_factory=dict)
    overlay_ref: str | None = None
    trust: bool = False
    patterns_dir: Path | None = None
    cuda_version: str | None = None


@dataclass(frozen=True)
class RenderedTemplate:
    """A pristine render on disk: the template version and source it came from."""

    version: str
    overlay: TemplateOverlay | None
    data: dict[str, Any]
