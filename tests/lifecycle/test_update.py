"""``mlship update``: real projects, real git, real renders of a changed template release.

The next release of the templates is a copy of mlship's own (``newer_templates``) that a
test edits; the project was made before the edit, so updating brings exactly that edit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import yaml

from mlship.lifecycle.update import UpdateResult
from mlship.provenance import TEMPLATE_BRANCH
from tests.lifecycle.conftest import commit_all, edit, git, invoke, snapshot

DOCKERFILE_LINE = "ENV PYTHONDONTWRITEBYTECODE=1 \\"
JSON_KEYS = set(UpdateResult.model_fields)


def _release(templates: Path) -> None:
    """What the next release changes: a Dockerfile line (in the skeleton every Dockerfile
    imports), a new manifest, a dropped one."""
    edit(
        templates / "macros" / "dockerfile.jinja",
        lambda t: t.replace(DOCKERFILE_LINE, "ENV PYTHONFAULTHANDLER=1 \\\n    " + DOCKERFILE_LINE),
    )
    (templates / "online" / "k8s" / "networkpolicy.yaml.jinja").write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n"
        "  name: {{ project_name }}\n"
    )
    (templates / "online" / "k8s" / "hpa.yaml.jinja").unlink()


def test_a_fresh_project_is_already_up_to_date(make_project: Callable[..., Path]) -> None:
    project = make_project()
    head = git(project, "rev-parse", "HEAD")
    assert git(project, "rev-parse", TEMPLATE_BRANCH) == head  # new keeps the pristine render

    done = invoke("update", str(project), "--json")

    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert set(result) == JSON_KEYS
    assert result["status"] == "up-to-date" and result["commit"] is None
    assert git(project, "rev-parse", "HEAD") == head


def test_a_template_release_merges_and_the_team_edits_survive(
    make_project: Callable[..., Path], newer_templates: Path, tmp_path: Path
) -> None:
    project = make_project()
    edit(project / "README.md", lambda t: t + "\nOn call: team-fraud.\n")
    (project / "src" / "svc" / "features.py").write_text("FEATURES = ['amount']\n")
    (project / "k8s" / "pdb.yaml").unlink()
    team_head = commit_all(project, "team edits")
    _release(newer_templates)

    done = invoke("update", str(project), "--json")

    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert result["status"] == "merged"
    assert "Dockerfile" in result["changed"] and "k8s/networkpolicy.yaml" in result["added"]
    assert result["deleted"] == ["k8s/hpa.yaml"] and result["conflicts"] == []
    assert git(project, "status", "--porcelain") == ""
    parents = git(project, "rev-parse", "HEAD^1", "HEAD^2").split()
    assert parents == [team_head, git(project, "rev-parse", TEMPLATE_BRANCH)]
    assert "Update the online template" in git(project, "log", "-1", "--format=%s")
    # the team's edits, additions and deletions
    assert (project / "README.md").read_text().endswith("On call: team-fraud.\n")
    assert (project / "src" / "svc" / "features.py").is_file()
    assert not (project / "k8s" / "pdb.yaml").exists()
    # the release's changes
    assert "PYTHONFAULTHANDLER" in (project / "Dockerfile").read_text()
    assert not (project / "k8s" / "hpa.yaml").exists()
    # files the team never touched are exactly what the new templates render
    fresh = tmp_path / "fresh" / "svc"
    invoke("new", "online", str(fresh), "--defaults", "--no-git")
    mine, theirs = snapshot(project), snapshot(fresh)
    touched = {"README.md", "src/svc/features.py", "k8s/pdb.yaml", "mlship.yaml"}
    assert {k: v for k, v in mine.items() if k not in touched} == {
        k: v for k, v in theirs.items() if k not in touched
    }


def test_a_team_edit_on_a_line_the_release_changes_conflicts_and_aborts_cleanly(
    make_project: Callable[..., Path], newer_templates: Path
) -> None:
    project = make_project()
    edit(project / "Dockerfile", lambda t: t.replace(DOCKERFILE_LINE, "ENV TEAM_SETTING=1 \\"))
    head = commit_all(project, "team tunes the image")
    before = snapshot(project)
    _release(newer_templates)

    done = invoke("update", str(project))

    assert done.exit_code == 1, done.output
    assert "conflict" in done.stdout and "Dockerfile" in done.stdout
    assert "git merge --abort" in done.stdout
    assert "UU Dockerfile" in git(project, "status", "--porcelain")
    stages = {line.split()[2] for line in git(project, "ls-files", "-u", "Dockerfile").splitlines()}
    assert stages == {"1", "2", "3"}  # base, ours, theirs: what mergetools and IDEs read
    text = (project / "Dockerfile").read_text()
    assert "<<<<<<<" in text and "TEAM_SETTING" in text and "PYTHONFAULTHANDLER" in text
    assert not list(project.rglob("*.rej"))

    git(project, "merge", "--abort")

    assert git(project, "rev-parse", "HEAD") == head
    assert git(project, "status", "--porcelain") == ""
    assert snapshot(project) == before


def test_finishing_a_conflicted_update_records_the_new_template(
    make_project: Callable[..., Path], newer_templates: Path
) -> None:
    project = make_project()
    edit(project / "Dockerfile", lambda t: t.replace(DOCKERFILE_LINE, "ENV TEAM_SETTING=1 \\"))
    commit_all(project, "team tunes the image")
    _release(newer_templates)
    assert invoke("update", str(project)).exit_code == 1
    (project / "Dockerfile").write_text(
        re.sub(
            r"<<<<<<<.*?>>>>>>> [^\n]*\n",
            "ENV TEAM_SETTING=1 \\\n",
            (project / "Dockerfile").read_text(),
            flags=re.S,
        )
    )
    git(project, "add", "Dockerfile")
    git(project, "commit", "--no-edit", "-q")

    assert "Update the online template" in git(project, "log", "-1", "--format=%s")
    done = invoke("update", str(project), "--json")  # the merged release is now the base
    assert json.loads(done.stdout)["status"] == "up-to-date", done.output


def test_data_gpu_true_adds_the_gpu_files_through_the_same_merge(
    make_project: Callable[..., Path],
) -> None:
    project = make_project()

    done = invoke("update", str(project), "--data", "gpu=true", "--json")

    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert result["status"] == "merged" and result["data"] == {"gpu": True}
    assert "Dockerfile.gpu" in result["added"]
    assert "nvidia.com/gpu: 1" in (project / "k8s" / "deployment.yaml").read_text()
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    record = yaml.safe_load((project / "mlship.yaml").read_text())
    assert answers["gpu"] is True and record["project"]["gpu"] is True
    assert record["project"]["cuda_version"]  # the CUDA build the render chose
    assert git(project, "status", "--porcelain") == ""


def test_a_batch_budget_change_keeps_the_record_free_of_a_p99(
    make_project: Callable[..., Path],
) -> None:
    project = make_project("nightly", "batch")

    done = invoke("update", str(project), "--data", "max_error_rate=0.01", "--json")

    assert done.exit_code == 0, done.output
    record = yaml.safe_load((project / "mlship.yaml").read_text())
    assert record["budget"]["max_error_rate"] == 0.01
    assert "p99_ms" not in record["budget"]
    refused = invoke("update", str(project), "--data", "p99_ms=50", "--json")
    assert refused.exit_code == 2, refused.output
    assert "a batch project's budget has no p99_ms" in refused.output


def test_a_dry_run_reports_and_changes_nothing(
    make_project: Callable[..., Path], newer_templates: Path
) -> None:
    project = make_project()
    edit(project / "Dockerfile", lambda t: t.replace(DOCKERFILE_LINE, "ENV TEAM_SETTING=1 \\"))
    commit_all(project, "team tunes the image")
    _release(newer_templates)
    refs = git(project, "show-ref")
    objects = git(project, "count-objects", "-v")
    before = snapshot(project)

    done = invoke("update", str(project), "--dry-run", "--data", "gpu=true", "--json")

    assert done.exit_code == 1, done.output  # it would conflict
    result = json.loads(done.stdout)
    assert result["status"] == "would-conflict" and result["dry_run"] is True
    assert result["conflicts"] == ["Dockerfile"]
    assert "Dockerfile.gpu" in result["added"] and "k8s/networkpolicy.yaml" in result["added"]
    assert "k8s/hpa.yaml" in result["deleted"]
    assert git(project, "show-ref") == refs  # HEAD and the template branch
    assert git(project, "count-objects", "-v") == objects  # not even a loose object
    assert git(project, "status", "--porcelain") == ""
    assert snapshot(project) == before


def test_a_project_without_the_template_branch_updates_from_its_first_commit(
    make_project: Callable[..., Path], newer_templates: Path
) -> None:
    """How projects of mlship 0.1.0 look: the first commit is the pristine render."""
    project = make_project()
    git(project, "branch", "-D", TEMPLATE_BRANCH)
    _release(newer_templates)

    done = invoke("update", str(project), "--json")

    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["status"] == "merged"
    root = git(project, "rev-list", "--max-parents=0", "HEAD")
    assert git(project, "rev-parse", f"{TEMPLATE_BRANCH}^") == root
