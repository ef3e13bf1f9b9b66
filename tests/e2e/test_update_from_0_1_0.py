"""A project made by mlship 0.1.0 (built from this repository's tag into a venv of its own)
is brought to the current templates by one ``mlship update``, team edits and all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import Project, Venv
from tests.lifecycle.conftest import commit_all, git, snapshot

ROOT = Path(__file__).resolve().parents[2]
OLD = "0.1.0"
# The release commit of 0.1.0: a clone of main has it even where the tag was not fetched.
OLD_COMMIT = "35e9781edf15247bedb6ea1d9a06c8f71b286dde"
pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _run(*args: str, cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run(
        list(args), cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )
    if done.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} exited {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return done


@pytest.fixture(scope="module")
def mlship_0_1_0(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``mlship`` executable of release 0.1.0, built from its commit into its own venv."""
    work = tmp_path_factory.mktemp("mlship-0.1.0")
    archive = subprocess.run(
        ["git", "archive", "--format=tar", OLD_COMMIT], cwd=ROOT, capture_output=True
    )
    if archive.returncode != 0:
        pytest.fail(f"release commit {OLD_COMMIT} is not in this clone: {archive.stderr!r}")
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(work / "src", filter="data")
    _run(
        sys.executable,
        "-m",
        "build",
        "--wheel",
        "--no-isolation",
        "--outdir",
        str(work / "dist"),
        str(work / "src"),
        cwd=work,
    )
    (wheel,) = (work / "dist").glob(f"mlship-{OLD}-*.whl")
    _run(sys.executable, "-m", "venv", str(work / "venv"), cwd=work)
    _run(
        str(work / "venv" / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "-q",
        str(wheel),
        cwd=work,
        timeout=1800,
    )
    version = _run(str(work / "venv" / "bin" / "mlship"), "--version", cwd=work).stdout
    assert version.strip() == f"mlship {OLD}"
    return work / "venv" / "bin" / "mlship"


def test_a_0_1_0_project_with_team_edits_is_on_the_current_templates_after_one_update(
    mlship_0_1_0: Path, tmp_path: Path, venv_for: Callable[[Path], Venv]
) -> None:
    project = tmp_path / "fraud-svc"
    _run(str(mlship_0_1_0), "new", "online", str(project), "--defaults", cwd=tmp_path)
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_commit"] == OLD and "target_rps" in answers  # what 0.1.0 wrote
    # the team: a changed file, a new module, a deleted file
    readme = project / "README.md"
    readme.write_text(readme.read_text() + "\nOwned by the fraud team; on call: #fraud-oncall.\n")
    (project / "src" / "fraud_svc" / "rules.py").write_text(
        '"""Team rules."""\n\nTHRESHOLD = 0.7\n'
    )
    (project / "k8s" / "hpa.yaml").unlink()
    commit_all(project, "team edits")

    done = _run(sys.executable, "-m", "mlship", "update", str(project), "--json", cwd=tmp_path)

    result = json.loads(done.stdout)
    assert (result["status"], result["from_version"], result["to_version"]) == (
        "merged",
        OLD,
        "0.2.0",
    )
    assert git(project, "status", "--porcelain") == ""
    assert f"from mlship {OLD} to 0.2.0" in git(project, "log", "-1", "--format=%s")
    # the team's work survived
    assert readme.read_text().endswith("on call: #fraud-oncall.\n")
    assert (project / "src" / "fraud_svc" / "rules.py").is_file()
    assert not (project / "k8s" / "hpa.yaml").exists()
    # every file the team never touched is what the current templates render
    fresh = tmp_path / "fresh" / "fraud-svc"
    _run(
        sys.executable,
        "-m",
        "mlship",
        "new",
        "online",
        str(fresh),
        "--defaults",
        "--no-git",
        cwd=tmp_path,
    )
    touched = {"README.md", "src/fraud_svc/rules.py", "k8s/hpa.yaml", "mlship.yaml"}
    mine = {k: v for k, v in snapshot(project).items() if k not in touched}
    theirs = {k: v for k, v in snapshot(fresh).items() if k not in touched}
    assert mine == theirs
    record = yaml.safe_load((project / "mlship.yaml").read_text())
    assert record["template_version"] == "0.2.0" and record["mlship_version"] == OLD
    # mlship check compares with the merged 0.2.0 render: the only error is the team's
    # deletion of a file the templates own (the rest of the project is on the golden path)
    checked = subprocess.run(
        [sys.executable, "-m", "mlship", "check", str(project), "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert checked.returncode == 1, checked.stderr
    report = json.loads(checked.stdout)
    assert report["template"] == {"version": "0.2.0", "latest": "0.2.0", "outdated": False}
    errors = [(f["rule"], f["file"]) for f in report["findings"] if f["severity"] == "error"]
    assert errors == [("template.drift", "k8s/hpa.yaml")]
    # the updated project's own tests pass
    updated = Project(project, "fraud_svc", venv_for(project))
    updated.run("make", "model", timeout=900)
    updated.run("make", "test", timeout=1200)
