"""Declarative conditions on answers, shared by pattern rules and questionnaire branches.

A condition names an answer by dotted path, an operator and a value; it is checked
against the ``Answers`` model when loaded, so a misspelt field or an enum value that
cannot occur fails at load time instead of silently never matching.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mlship.knowledge.fields import answer_fields, format_value

Op = Literal["eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "is_set", "is_unset"]
NUMERIC_OPS = ("lt", "lte", "gt", "gte")
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
}
PLACEHOLDER = re.compile(r"\{([a-z_]+\.[a-z_0-9]+)\}")

Scalar = str | int | float | bool


class Condition(BaseModel):
    """``{field: latency.p99_ms, op: lte, value: 100}``: true when the answer matches."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str
    op: Op = "eq"
    value: Scalar | list[Scalar] | None = None

    @field_validator("field")
    @classmethod
    def _known_field(cls, path: str) -> str:
        if path not in answer_fields():
            known = ", ".join(answer_fields())
            raise ValueError(f"unknown answer {path!r} (known: {known})")
        return path

    @model_validator(mode="after")
    def _value_fits_field(self) -> Condition:
        spec = answer_fields()[self.field]
        if self.op in ("is_set", "is_unset"):
            if self.value is not None:
                raise ValueError(f"op {self.op!r} takes no value")
            return self
        if self.op in ("in", "not_in"):
            if not isinstance(self.value, list) or not self.value:
                raise ValueError(f"op {self.op!r} needs a non-empty list as value")
            values: list[Any] = list(self.value)
        else:
            if isinstance(self.value, list) or self.value is None:
                raise ValueError(f"op {self.op!r} needs a single value")
            values = [self.value]
        if self.op in NUMERIC_OPS and spec.kind not in ("number", "integer"):
            raise ValueError(f"op {self.op!r} needs a numeric answer; {self.field} is {spec.kind}")
        for value in values:
            _check_value(spec.kind, spec.choices, self.field, value)
        return self

    def holds(self, value: Any) -> bool:
        """Whether the answer ``value`` satisfies this condition (unset answers never compare)."""
        if self.op == "is_set":
            return value is not None
        if self.op == "is_unset":
            return value is None
        if value is None:
            return self.op == "ne" or self.op == "not_in"
        if self.op == "eq":
            return bool(value == self.value)
        if self.op == "ne":
            return bool(value != self.value)
        if self.op in ("in", "not_in"):
            options = self.value if isinstance(self.value, list) else [self.value]
            return (value in options) == (self.op == "in")
        return _COMPARE[self.op](value, self.value)

    def describe(self) -> str:
        """The condition as people read it, for docs."""
        words = {
            "eq": "is",
            "ne": "is not",
            "lt": "<",
            "lte": "≤",
            "gt": ">",
            "gte": "≥",
            "in": "is one of",
            "not_in": "is none of",
        }
        if self.op == "is_set":
            return f"{self.field} is given"
        if self.op == "is_unset":
            return f"{self.field} is not given"
        shown = (
            ", ".join(map(_show, self.value)) if isinstance(self.value, list) else _show(self.value)
        )
        return f"{self.field} {words[self.op]} {shown}"


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _check_value(kind: str, choices: tuple[str, ...], path: str, value: Any) -> None:
    if kind == "choice" and value not in choices:
        raise ValueError(
            f"{value!r} can never be an answer of {path} (allowed: {', '.join(choices)})"
        )
    if kind == "bool" and not isinstance(value, bool):
        raise ValueError(f"{path} is true or false, not {value!r}")
    if kind in ("number", "integer") and (
        isinstance(value, bool) or not isinstance(value, int | float)
    ):
        raise ValueError(f"{path} is a number, not {value!r}")


class When(BaseModel):
    """A rule's trigger: every listed condition must hold (``when`` may be one condition)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    all: list[Condition] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _accept_one_or_many(cls, data: Any) -> Any:
        if isinstance(data, list):
            return {"all": data}
        if isinstance(data, dict) and "all" not in data:
            return {"all": [data]}
        return data

    def holds(self, lookup: Callable[[str], Any]) -> bool:
        return all(c.holds(lookup(c.field)) for c in self.all)

    def fields(self) -> list[str]:
        return [c.field for c in self.all]

    def describe(self) -> str:
        return " and ".join(c.describe() for c in self.all)


def fill_placeholders(template: str, lookup: Callable[[str], Any]) -> str:
    """Replace ``{latency.p99_ms}`` with the answer, formatted for people."""
    return PLACEHOLDER.sub(lambda m: format_value(lookup(m.group(1))), template)


def check_placeholders(template: str) -> str:
    """Refuse a template that names an answer that does not exist."""
    unknown = [p for p in PLACEHOLDER.findall(template) if p not in answer_fields()]
    if unknown:
        raise ValueError(f"unknown answer in placeholder: {', '.join(unknown)}")
    return template


def dict_lookup(data: Mapping[str, Any]) -> Callable[[str], Any]:
    """Look answers up in a nested mapping (partial answers, while asking), with defaults."""

    def lookup(path: str) -> Any:
        section, name = path.split(".", 1)
        part = data.get(section)
        if isinstance(part, Mapping) and name in part:
            return part[name]
        return answer_fields()[path].default

    return lookup
