"""The decision record ``mlship.yaml``: the one place that reads and writes it.

Written by ``mlship recommend --save`` and by ``mlship new``; read by ``new --from``,
``spike`` (and, later, ``check`` and ``update``). Writes are atomic: a reader never sees
half a record. Every problem names the file (and line).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import yaml
from pydantic import ValidationError

from mlship.contracts import DecisionRecord
from mlship.errors import InputError, ToolError
from mlship.validation import describe_validation_error
from mlship.yaml_io import read_yaml_file

DEFAULT_NAME = "mlship.yaml"
HEADER = (
    "# mlship decision record: the deployment pattern chosen for this project, why, and\n"
    "# the budget it is held to (mlship spike and the alert rules read it). Written by\n"
    "# `mlship recommend --save` / `mlship new`; edit the budget freely.\n"
)
_HINT = "write one with `mlship recommend --save` or `mlship new`"


def dump_decision_record(record: DecisionRecord) -> str:
    """The YAML text of a record, with a header saying what the file is."""
    body = yaml.safe_dump(
        record.model_dump(mode="json"), sort_keys=False, allow_unicode=True, width=100
    )
    return HEADER + body


def write_decision_record(record: DecisionRecord, path: str | Path) -> Path:
    """Write ``record`` to ``path`` atomically (temporary file in the same folder + rename)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a directory; give a file name such as {path / DEFAULT_NAME}")
    if not path.parent.is_dir():
        raise InputError(f"cannot write {path}: folder {path.parent} does not exist")
    text = dump_decision_record(record)
    try:
        handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(text)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
    except OSError as error:
        raise ToolError(f"cannot write decision record {path}: {error}") from None
    return path


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
