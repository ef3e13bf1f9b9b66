"""What ``mlship check`` reports: findings and the result, whose JSON form is a contract."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["error", "warning"]
FINDING_KEYS = ("rule", "severity", "file", "line", "message", "hint", "waived")


class Finding(BaseModel):
    """One thing that is off the golden path, where it is and how to fix it."""

    model_config = ConfigDict(extra="forbid")

    rule: str
    area: str
    severity: Severity
    file: str | None = Field(None, description="Relative to the project, POSIX.")
    line: int | None = Field(None, ge=1)
    message: str
    hint: str
    waived: bool = False
    waiver_reason: str | None = None

    @property
    def where(self) -> str:
        if self.file is None:
            return "-"
        return self.file if self.line is None else f"{self.file}:{self.line}"


class TemplateState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str
    latest: str
    outdated: bool


class ProjectInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str
    name: str
    pattern: str
    kind: str


class CheckResult(BaseModel):
    """The verdict; ``ok`` when no error-level finding remains unwaived."""

    model_config = ConfigDict(extra="forbid")

    ok: bool
    project: ProjectInfo
    template: TemplateState
    findings: list[Finding]
    rules: list[dict[str, Any]] = Field(
        default_factory=list, description="The rules that ran (id, area, severity, summary, hint)."
    )
    seconds: float = 0.0

    def contract(self) -> dict[str, Any]:
        """The ``--json`` document: ok, project, template and the findings' public keys."""
        return {
            "ok": self.ok,
            "project": self.project.model_dump(),
            "template": self.template.model_dump(),
            "findings": [f.model_dump(include=set(FINDING_KEYS)) for f in self.findings],
        }
