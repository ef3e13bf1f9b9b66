"""SARIF 2.1.0 for code-scanning tools: one run, mlship's rules, one result per finding.

Waived findings carry a suppression with the waiver's reason, as code scanning expects;
findings without a file point at the decision record, since every result needs a location.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlship.lifecycle.check.findings import CheckResult, Finding
from mlship.record import DEFAULT_NAME
from mlship.version import __version__

SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
BASE = "PROJECTROOT"


def _rule(rule: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": rule["id"],
        "name": rule["id"].replace(".", "-"),
        "shortDescription": {"text": rule["summary"]},
        "help": {"text": rule["hint"]},
        "defaultConfiguration": {"level": rule["severity"]},
        "properties": {"area": rule["area"]},
    }


def _location(finding: Finding) -> dict[str, Any]:
    region = {"startLine": finding.line} if finding.line else None
    physical: dict[str, Any] = {
        "artifactLocation": {"uri": finding.file or DEFAULT_NAME, "uriBaseId": BASE}
    }
    if region:
        physical["region"] = region
    return {"physicalLocation": physical}


def _result(finding: Finding, index: dict[str, int]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": finding.rule,
        "level": finding.severity,
        "message": {"text": f"{finding.message}. Fix: {finding.hint}"},
        "locations": [_location(finding)],
    }
    if finding.rule in index:
        result["ruleIndex"] = index[finding.rule]
    if finding.waived:
        result["suppressions"] = [
            {"kind": "external", "justification": finding.waiver_reason or "waived in mlship.yaml"}
        ]
    return result


def to_sarif(result: CheckResult) -> dict[str, Any]:
    rules = [_rule(r) for r in result.rules]
    index = {rule["id"]: i for i, rule in enumerate(rules)}
    root = Path(result.project.path).as_uri().rstrip("/") + "/"
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "mlship check",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": rules,
                    }
                },
                "originalUriBaseIds": {BASE: {"uri": root}},
                "results": [_result(f, index) for f in result.findings],
                "properties": {"template": result.template.model_dump(), "ok": result.ok},
            }
        ],
    }
