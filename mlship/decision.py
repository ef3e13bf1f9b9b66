"""The decision record ``mlship.yaml``: why a project follows its pattern, and its budget.

Written by ``mlship recommend --save`` (and by ``mlship new``), read by ``new --from``,
``spike`` and ``check``. Writes are atomic: a reader never sees half a record.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import yaml
from pydantic import ValidationError

from mlship import __version__
from mlship.errors import InputError, ToolError
from mlship.models import Answers, Budget, DecisionRecord, Recommendation
from mlship.validation import describe_validation_error
from mlship.yaml_io import load_yaml

DEFAULT_NAME = "mlship.yaml"
HEADER = (
    "# mlship decision record: the deployment pattern chosen for this project, why, and\n"
    "# the budget it is held to (mlship spike and the alert rules read it). Written by\n"
    "# `mlship recommend --save` / `mlship new`; edit the budget freely.\n"
)


def build_decision_record(answers: Answers, recommendation: Recommendation) -> DecisionRecord:
    """The record of one recommendation: answers, ranking, winner and budget."""
    from mlship.sizing import load_sizing

    winner = next(r for r in recommendation.ranking if r.pattern == recommendation.pattern)
    return DecisionRecord(
        mlship_version=__version__,
        pattern=recommendation.pattern,
        answers=answers,
        reasons=list(winner.reasons),
        ranking=list(recommendation.ranking),
        warnings=list(recommendation.warnings),
        stack=dict(recommendation.stack),
        budget=Budget(
            p99_ms=answers.latency.p99_ms,
            max_error_rate=load_sizing().budget.max_error_rate,
            target_rps=answers.traffic.peak_rps,
        ),
    )


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
    hint = "write one with `mlship recommend --save` or `mlship new`"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"decision record {path} does not exist", hint=hint) from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read decision record {path}: {error}") from None
    try:
        data = load_yaml(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise InputError(f"{where}: not valid YAML: {getattr(error, 'problem', '')}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: a decision record must be a mapping", hint=hint)
    try:
        return DecisionRecord.model_validate(data)
    except ValidationError as error:
        raise InputError(
            f"invalid decision record {path}:", hint=hint, problems=describe_validation_error(error)
        ) from None
