"""Answers from files and flags: read, merge (flags win), validate, and say what is missing.

Errors name the file and, where the answers file says where, the line, so that a typo in
``answers.yaml`` is found without reading a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from mlship.contracts import Answers
from mlship.errors import InputError
from mlship.knowledge.fields import answer_fields, required_paths
from mlship.validation import describe_validation_error
from mlship.yaml_io import load_yaml

HINT = "`mlship recommend --help` lists every answer with its allowed values"


@dataclass
class AnswersSource:
    """Raw answers as read from a file, with the line of every key for error messages."""

    data: dict[str, Any]
    path: Path | None = None
    lines: dict[str, int] = field(default_factory=dict)


def _line_map(text: str) -> dict[str, int]:
    """Dotted key path -> 1-based line, for the two levels an answers file has."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return {}
    lines: dict[str, int] = {}
    if not isinstance(root, yaml.MappingNode):
        return lines
    for key, value in root.value:
        lines[str(key.value)] = key.start_mark.line + 1
        if isinstance(value, yaml.MappingNode):
            for sub_key, _ in value.value:
                lines[f"{key.value}.{sub_key.value}"] = sub_key.start_mark.line + 1
    return lines


def read_answers_file(path: str | Path) -> AnswersSource:
    """Read a YAML or JSON answers file; any problem is an InputError naming file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"answers file {path} does not exist") from None
    except IsADirectoryError:
        raise InputError(f"answers file {path} is a directory, not a file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read answers file {path}: {error}") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else load_yaml(text)
    except json.JSONDecodeError as error:
        raise InputError(
            f"{path}:{error.lineno}: not valid JSON: {error.msg} (column {error.colno})"
        ) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(error, "problem", None) or "malformed"
        raise InputError(f"{where}: not valid YAML: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(
            f"{path}: an answers file must be a mapping of sections "
            f"(traffic, latency, ...), not a {type(data).__name__}",
            hint=HINT,
        )
    return AnswersSource(data=data, path=path, lines=_line_map(text))


def merge_answers(data: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` with every ``section.name`` in ``overrides`` set (overrides win)."""
    merged: dict[str, Any] = {
        key: dict(value) if isinstance(value, Mapping) else value for key, value in data.items()
    }
    for path, value in overrides.items():
        section, name = path.split(".", 1)
        current = merged.get(section)
        if not isinstance(current, dict):
            current = {}
            merged[section] = current
        current[name] = value
    return merged


def answered_paths(data: Mapping[str, Any]) -> set[str]:
    """The dotted paths that ``data`` gives a value for (unset ``null`` counts as given)."""
    given = set()
    for path in answer_fields():
        section, name = path.split(".", 1)
        part = data.get(section)
        if isinstance(part, Mapping) and name in part:
            given.add(path)
    return given


def missing_required(data: Mapping[str, Any]) -> list[str]:
    """Required answers that ``data`` lacks (today: only ``traffic.arrival``)."""
    given = answered_paths(data)
    return [path for path in required_paths() if path not in given]


def describe_missing(missing: list[str]) -> list[str]:
    """``traffic.arrival (allowed: requests, events, ...)`` for each missing answer."""
    fields = answer_fields()
    return [f"{path} (allowed: {fields[path].allowed()})" for path in missing]


def validate_answers(
    source: AnswersSource,
    overrides: Mapping[str, Any] | None = None,
    labels: Mapping[str, str] | None = None,
) -> Answers:
    """Validate file answers with ``overrides`` (flags) on top.

    A problem names the file and line of the answer, or the option (``labels``: dotted path
    -> ``--p99-ms``) it came from.
    """
    overrides, labels = overrides or {}, labels or {}
    data = merge_answers(source.data, overrides)
    try:
        return Answers.model_validate(data)
    except ValidationError as error:
        problems = []
        fields = answer_fields()
        for item, line in zip(error.errors(), describe_validation_error(error), strict=True):
            loc = ".".join(str(part) for part in item["loc"][:2])
            spec = fields.get(loc)
            if spec is not None and spec.kind in ("number", "integer") and "allowed" not in line:
                line += f" (allowed: {spec.allowed()})"
            number = source.lines.get(loc) if loc not in overrides else None
            if loc in labels:
                problems.append(f"{line} [given as {labels[loc]}]")
            elif source.path is not None and number is not None:
                problems.append(f"{source.path}:{number}: {line}")
            else:
                problems.append(line)
        origin = f" in {source.path}" if source.path is not None else ""
        raise InputError(f"invalid answers{origin}:", hint=HINT, problems=problems) from None


def load_answers(path: str | Path, overrides: Mapping[str, Any] | None = None) -> Answers:
    """Read, merge and validate an answers file (YAML or JSON) in one call."""
    return validate_answers(read_answers_file(path), overrides)
