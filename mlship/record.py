"""The decision record ``mlship.yaml``: the one place that reads and writes it.

Written by ``mlship recommend --save`` and by ``mlship new``; read by ``new --from``,
``spike``, ``check`` and ``update`` (which records the template version it merged).
Writes are atomic: a reader never sees half a record. Every problem names the file (and line).
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Collection
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from mlship.contracts import CheckPolicy, DecisionRecord, TemplateOverlay
from mlship.errors import InputError, ToolError
from mlship.validation import describe_validation_error
from mlship.yaml_io import read_yaml_file

DEFAULT_NAME = "mlship.yaml"
HEADER = (
    "# mlship decision record: the deployment pattern chosen for this project, why, and\n"
    "# the budget it is held to (mlship spike and the alert rules read it). Written by\n"
    "# `mlship recommend --save` / `mlship new`; edit the budget freely.\n"
)
_NOT_WRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT, errno.ENOTDIR}
_HINT = "write one with `mlship recommend --save` or `mlship new`"


def _record_data(record: DecisionRecord, criteria: Collection[str] | None = None) -> dict[str, Any]:
    """The record as plain data, without the optional blocks it leaves at their defaults.

    ``criteria``: the budget criteria the project's pattern has (its knowledge base file);
    given, the budget shows only those (a batch job's record has no p99 line at all).
    """
    data = record.model_dump(mode="json")
    if criteria is not None:
        data["budget"] = {k: v for k, v in data["budget"].items() if k in criteria}
    if record.template_overlay is None:
        data.pop("template_overlay")
    if record.check == CheckPolicy():
        data.pop("check")
    return data


def dump_decision_record(record: DecisionRecord, criteria: Collection[str] | None = None) -> str:
    """The YAML text of a record, with a header saying what the file is."""
    body = yaml.safe_dump(
        _record_data(record, criteria), sort_keys=False, allow_unicode=True, width=100
    )
    return HEADER + body


def write_decision_record(
    record: DecisionRecord, path: str | Path, criteria: Collection[str] | None = None
) -> Path:
    """Write ``record`` to ``path`` atomically (temporary file in the same folder + rename);
    ``criteria`` as in :func:`dump_decision_record`."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a directory; give a file name such as {path / DEFAULT_NAME}")
    if not path.parent.is_dir():
        raise InputError(f"cannot write {path}: folder {path.parent} does not exist")
    _write_text(path, dump_decision_record(record, criteria))
    return path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_text(path: Path, text: str) -> None:
    """Replace ``path`` atomically (temporary file in the same folder + rename)."""
    try:
        handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(text)
                stream.flush()
                os.fsync(stream.fileno())
            # mkstemp makes the file 0600: give it the mode a plain write would (a project's
            # files are read by others, e.g. the non-root user of its container image)
            os.chmod(temp, 0o666 & ~_umask())
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
    except OSError as error:
        reason = error.strerror or str(error)
        if error.errno in _NOT_WRITABLE:  # the destination the user chose: say which
            raise InputError(
                f"cannot write decision record {path}: {reason}",
                hint="choose a file in a folder you can write to (--save-to FILE)",
            ) from None
        raise ToolError(f"cannot write decision record {path}: {reason}") from None


def read_decision_record(path: str | Path) -> DecisionRecord:
    """Read and validate ``mlship.yaml``; every problem names the file (and line)."""
    path = Path(path)
    data = read_yaml_file(path, InputError, "decision record", hint=_HINT)
    if not isinstance(data, dict):
        raise InputError(f"{path}: a decision record must be a mapping", hint=_HINT)
    try:
        return DecisionRecord.model_validate(data)
    except ValidationError as error:
        raise InputError(
            f"invalid decision record {path}:",
            hint=_HINT,
            problems=describe_validation_error(error),
        ) from None


def find_decision_record(project: Path | None) -> DecisionRecord | None:
    """The record of ``project``, or None where it has none; an invalid one is an error."""
    if project is None or not (project / DEFAULT_NAME).is_file():
        return None
    return read_decision_record(project / DEFAULT_NAME)


def _top_level_block(lines: list[str], key: str) -> tuple[int, int] | None:
    """The line range of a top-level ``key:`` and the indented lines under it."""
    for start, line in enumerate(lines):
        if line.startswith(f"{key}:"):
            end = start + 1
            while end < len(lines) and (lines[end].startswith((" ", "-")) or not lines[end]):
                end += 1
            return start, end
    return None


def _set_top_level(text: str, key: str, value: Any, after: str) -> str:
    """Replace (or add after ``after``) a top-level key, leaving every other line alone."""
    rendered = yaml.safe_dump({key: value}, sort_keys=False, width=100).splitlines()
    lines = text.splitlines()
    found = _top_level_block(lines, key)
    if found is not None:
        lines[found[0] : found[1]] = [] if value is None else rendered
    elif value is not None:
        anchor = _top_level_block(lines, after)
        at = anchor[1] if anchor is not None else len(lines)
        lines[at:at] = rendered
    return "\n".join(lines) + "\n"


def _budget_keys(path: Path) -> set[str]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    budget = raw.get("budget") if isinstance(raw, dict) else None
    return set(budget) if isinstance(budget, dict) else set()


def record_template(
    path: str | Path, version: str, overlay: TemplateOverlay | None, **changes: Any
) -> DecisionRecord:
    """Write the template version and source a project now follows into its record.

    Only those keys' lines change, so the team's edits and comments elsewhere survive and
    merge like any other line; other ``changes`` (fields of the record, e.g. ``budget``)
    rewrite the whole file, whose budget keeps showing the criteria it showed (a batch
    job's record gains no p99 line) plus any a change sets.
    """
    path = Path(path)
    record = read_decision_record(path)
    if changes:
        shown = _budget_keys(path) | {
            k for k, v in (changes.get("budget") or {}).items() if v is not None
        }
        record = DecisionRecord.model_validate({**record.model_dump(), **changes})
        record = record.model_copy(
            update={"template_version": version, "template_overlay": overlay}
        )
        write_decision_record(record, path, shown)
        return record
    text = path.read_text(encoding="utf-8")
    text = _set_top_level(text, "template_version", version, after="budget")
    overlay_data = overlay.model_dump(mode="json") if overlay is not None else None
    text = _set_top_level(text, "template_overlay", overlay_data, after="template_version")
    _write_text(path, text)
    return read_decision_record(path)
