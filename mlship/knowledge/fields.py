"""The questionnaire's fields by dotted path (``latency.p99_ms``), derived from ``Answers``.

Pattern rules, questions, flags and docs all name answers by these paths; deriving the
table from the pydantic model keeps one source of truth for kinds, choices and defaults.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from mlship.contracts import Answers

Kind = Literal["choice", "number", "integer", "bool"]


@dataclass(frozen=True)
class FieldSpec:
    """One answer: where it lives, what it accepts and what it defaults to."""

    path: str
    kind: Kind
    choices: tuple[str, ...]
    optional: bool  # ``None`` is a valid value ("not stated")
    required: bool
    default: Any
    description: str
    maximum: float | None = None  # numbers: the largest value allowed
    minimum: float | None = None  # numbers: the smallest value allowed; None: above 0

    def allowed(self) -> str:
        """Human wording of the values this field accepts."""
        if self.kind == "choice":
            return ", ".join(self.choices)
        if self.kind == "bool":
            return "true, false"
        if self.kind == "integer":
            wording = "a whole number from 1"
        elif self.minimum is not None:
            wording = f"a number from {self.minimum:g}"
        else:
            wording = "a number greater than 0"
        if self.maximum is not None:
            wording += f" up to {self.maximum:,.0f}"
        return wording

    def check(self, value: float) -> bool:
        """A number within this field's range (finite, in its bounds)."""
        if value != value or value in (float("inf"), float("-inf")):
            return False
        if value < (self.minimum or 0) or (self.minimum is None and value <= 0):
            return False
        return self.maximum is None or value <= self.maximum


def _unwrap(annotation: Any) -> tuple[Any, bool, list[Any]]:
    """Strip ``Optional`` and ``Annotated``: the base type, whether ``None`` is allowed and
    the constraints (``Gt``, ``Le``, ...) the annotation carries."""
    optional = False
    metadata: list[Any] = []
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        optional = len(args) < len(get_args(annotation))
        (annotation,) = args
    if get_origin(annotation) is Annotated:
        annotation, *extra = get_args(annotation)
        for item in extra:
            metadata.extend(getattr(item, "metadata", [item]))
    return annotation, optional, metadata


def _bound(metadata: list[Any], name: str) -> float | None:
    found = [float(b) for b in (getattr(m, name, None) for m in metadata) if b is not None]
    return found[0] if found else None


def _spec(path: str, info: Any) -> FieldSpec:
    base, optional, metadata = _unwrap(info.annotation)
    metadata = [*metadata, *info.metadata]
    choices: tuple[str, ...] = ()
    kind: Kind
    if get_origin(base) is Literal:
        kind, choices = "choice", tuple(get_args(base))
    elif base is bool:
        kind = "bool"
    elif base is int:
        kind = "integer"
    elif base is float:
        kind = "number"
    else:  # pragma: no cover - guards a future field type nobody mapped yet
        raise TypeError(f"unsupported answer type at {path}: {base!r}")
    return FieldSpec(
        path=path,
        kind=kind,
        choices=choices,
        optional=optional,
        required=info.is_required(),
        default=None if info.is_required() else info.default,
        description=info.description or "",
        maximum=_bound(metadata, "le") if kind in ("number", "integer") else None,
        minimum=_bound(metadata, "ge") if kind in ("number", "integer") else None,
    )


@cache
def answer_fields() -> dict[str, FieldSpec]:
    """Every leaf answer by dotted path, in the order of the model."""
    table: dict[str, FieldSpec] = {}
    for section, section_info in Answers.model_fields.items():
        model = section_info.annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        for name, info in model.model_fields.items():
            path = f"{section}.{name}"
            table[path] = _spec(path, info)
    return table


def required_paths() -> list[str]:
    return [path for path, spec in answer_fields().items() if spec.required]


def get_answer(answers: Answers, path: str) -> Any:
    """The value of one answer by dotted path."""
    section, name = path.split(".", 1)
    return getattr(getattr(answers, section), name)


def format_value(value: Any) -> str:
    """An answer as people read it: 50 rather than 50.0, true/false, 'none' for unset."""
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:g}"
    return str(value)
