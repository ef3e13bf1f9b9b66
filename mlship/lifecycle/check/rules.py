"""The rule table: mlship's ``data/checks.yaml`` plus an organisation's ``checks/*.yaml``.

A rule names the check function that implements it; which patterns it applies to, its
severity and its parameters are data, so a platform team can disable a rule, change its
severity or add one built on a generic check (``file_exists``, ``file_matches``, ...)
without touching Python. Every file is validated; a typo fails with file and field.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlship.errors import KnowledgeBaseError
from mlship.lifecycle.check.findings import Finding, Severity
from mlship.resources import data_file
from mlship.validation import describe_validation_error
from mlship.yaml_io import load_yaml, read_yaml_file

RULE_ID = r"^[a-z][a-z0-9-]*(\.[a-z0-9-]+)+$"
ORGANISATION_FOLDER = "checks"


class Rule(BaseModel):
    """One row of the table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(pattern=RULE_ID)]
    area: Annotated[str, Field(min_length=1)]
    severity: Severity
    check: Annotated[str, Field(min_length=1)]
    summary: Annotated[str, Field(min_length=1)]
    hint: Annotated[str, Field(min_length=1)]
    kinds: list[str] | None = None
    patterns: list[str] | None = None
    params: dict[str, Any] = {}

    def applies_to(self, pattern: str, kind: str) -> bool:
        return (self.kinds is None or kind in self.kinds) and (
            self.patterns is None or pattern in self.patterns
        )

    def finding(
        self,
        message: str,
        file: str | None = None,
        line: int | None = None,
        *,
        hint: str | None = None,
        severity: Severity | None = None,
    ) -> Finding:
        return Finding(
            rule=self.id,
            area=self.area,
            severity=severity or self.severity,
            file=file,
            line=line,
            message=message,
            hint=hint or self.hint,
        )


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[dict[str, Any]] = []
    disable: list[str] = []


def _table(raw: Any, where: str) -> _Table:
    try:
        return _Table.model_validate(raw or {})
    except ValidationError as error:
        problems = "; ".join(describe_validation_error(error))
        raise KnowledgeBaseError(f"invalid check rules {where}: {problems}") from None


def _merge(
    rules: dict[str, dict[str, Any]], table: _Table, where: str, known: Iterable[str]
) -> None:
    for row in table.rules:
        rule_id = row.get("id")
        if not isinstance(rule_id, str):
            raise KnowledgeBaseError(f"{where}: a rule without an id", hint="see docs/check.md")
        rules[rule_id] = {**rules.get(rule_id, {}), **row}
    for rule_id in table.disable:
        if rule_id not in rules:
            raise KnowledgeBaseError(
                f"{where}: disable names an unknown rule {rule_id!r}",
                hint=f"rules: {', '.join(sorted(rules))}",
            )
        rules.pop(rule_id)
    checks = set(known)
    for rule_id, row in rules.items():
        if row.get("check") not in checks:
            raise KnowledgeBaseError(
                f"{where}: rule {rule_id} names an unknown check {row.get('check')!r}",
                hint=f"checks: {', '.join(sorted(checks))}",
            )


def load_rules(patterns_dir: Path | None, known_checks: Iterable[str]) -> list[Rule]:
    """The built-in table, then each organisation file in name order."""
    known = list(known_checks)
    builtin = data_file("checks.yaml")
    rules: dict[str, dict[str, Any]] = {}
    _merge(
        rules,
        _table(load_yaml(builtin.read_text(encoding="utf-8")), str(builtin)),
        str(builtin),
        known,
    )
    folder = patterns_dir / ORGANISATION_FOLDER if patterns_dir is not None else None
    for path in sorted(folder.glob("*.y*ml")) if folder and folder.is_dir() else []:
        raw = read_yaml_file(path, KnowledgeBaseError, "check rules")
        _merge(rules, _table(raw, str(path)), str(path), known)
    result = []
    for rule_id, row in rules.items():
        try:
            result.append(Rule.model_validate(row))
        except ValidationError as error:
            problems = "; ".join(describe_validation_error(error))
            raise KnowledgeBaseError(
                f"invalid check rule {rule_id}: {problems}", hint="see docs/check.md"
            ) from None
    return result
