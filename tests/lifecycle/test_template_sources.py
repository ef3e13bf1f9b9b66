"""Organisation template sources: a folder or a git repository at a ref, laid over mlship's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mlship.new.sources import SourceSpec, parse_source
from tests.lifecycle.conftest import commit_all, edit, git, invoke


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/srv/templates", SourceSpec("/srv/templates", None)),
        ("/srv/templates@v1", SourceSpec("/srv/templates", "v1")),
        ("/srv/templates@release/2026", SourceSpec("/srv/templates", "release/2026")),
        ("https://git.example/org/tpl.git@v2", SourceSpec("https://git.example/org/tpl.git", "v2")),
        (
            "https://bot@git.example/org/tpl.git",
            SourceSpec("https://bot@git.example/org/tpl.git", None),
        ),
        ("git@git.example:org/tpl.git", SourceSpec("git@git.example:org/tpl.git", None)),
        (
            "git@git.example:org/tpl.git@3f2c9e1",
            SourceSpec("git@git.example:org/tpl.git", "3f2c9e1"),
        ),
    ],
)
def test_a_source_and_its_ref_are_told_apart(text: str, expected: SourceSpec) -> None:
    assert parse_source(text) == expected


def _organisation(root: Path) -> Path:
    """A platform team's template repository: v1, then v2 changes two files."""
    repo = root / "org-templates"
    (repo / "shared").mkdir(parents=True)
    (repo / "online").mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "shared" / "CODEOWNERS.jinja").write_text("* @platform-team  # {{ project_name }}\n")
    (repo / "online" / "README.md.jinja").write_text("# {{ project_name }}\n\nOrg README v1.\n")
    commit_all(repo, "v1")
    git(repo, "tag", "v1")
    (repo / "shared" / "CODEOWNERS.jinja").write_text(
        "* @platform-team @sre  # {{ project_name }}\n"
    )
    (repo / "online" / "README.md.jinja").write_text("# {{ project_name }}\n\nOrg README v2.\n")
    commit_all(repo, "v2")
    git(repo, "tag", "v2")
    return repo


def test_new_from_a_tag_then_update_to_the_next_tag(tmp_path: Path) -> None:
    source = _organisation(tmp_path)
    v1, v2 = git(source, "rev-parse", "v1^{commit}"), git(source, "rev-parse", "v2^{commit}")
    (source / "online" / "README.md.jinja").write_text("uncommitted: never rendered\n")
    project = tmp_path / "svc"

    made = invoke("new", "online", str(project), "--defaults", "--templates", f"{source}@v1")

    assert made.exit_code == 0, made.output
    assert "Org README v1." in (project / "README.md").read_text()  # replaces mlship's
    assert (project / "CODEOWNERS").read_text() == "* @platform-team  # svc\n"  # added
    assert (project / "Dockerfile").is_file()  # mlship's own files are still there
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert (answers["_overlay_src"], answers["_overlay_ref"], answers["_overlay_commit"]) == (
        str(source),
        "v1",
        v1,
    )
    record = yaml.safe_load((project / "mlship.yaml").read_text())
    assert record["template_overlay"] == {"source": str(source), "ref": "v1", "commit": v1}

    edit(project / "Makefile", lambda t: t + "\nteam-target:\n\techo ours\n")
    commit_all(project, "team target")
    done = invoke("update", str(project), "--to", "v2", "--json")

    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert result["status"] == "merged"
    assert result["from_overlay"]["ref"] == "v1" and result["to_overlay"]["commit"] == v2
    assert sorted(result["changed"]) == [
        ".copier-answers.yml",
        "CODEOWNERS",
        "README.md",
        "mlship.yaml",
    ]
    assert "Org README v2." in (project / "README.md").read_text()
    assert (project / "CODEOWNERS").read_text() == "* @platform-team @sre  # svc\n"
    assert "team-target:" in (project / "Makefile").read_text()
    record = yaml.safe_load((project / "mlship.yaml").read_text())
    assert record["template_overlay"] == {"source": str(source), "ref": "v2", "commit": v2}
    assert f"{source} from v1 to v2" in git(project, "log", "-1", "--format=%s")


def test_a_branch_ref_follows_its_newest_commit(tmp_path: Path) -> None:
    source = _organisation(tmp_path)
    project = tmp_path / "svc"
    assert (
        invoke(
            "new", "online", str(project), "--defaults", "--templates", f"{source}@main"
        ).exit_code
        == 0
    )
    (source / "shared" / "SECURITY.md").write_text("Report to security@example.invalid\n")
    commit_all(source, "v3 on main")

    done = invoke("update", str(project), "--json")

    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["added"] == ["SECURITY.md"]


def test_a_plain_folder_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "org"
    (folder / "shared").mkdir(parents=True)
    (folder / "shared" / "CODEOWNERS").write_text("* @platform-team\n")
    monkeypatch.setenv("MLSHIP_TEMPLATES", str(folder))
    project = tmp_path / "svc"

    assert invoke("new", "online", str(project), "--defaults").exit_code == 0

    assert (project / "CODEOWNERS").is_file()
    record = yaml.safe_load((project / "mlship.yaml").read_text())
    assert record["template_overlay"] == {"source": str(folder), "ref": None, "commit": None}


def test_an_unknown_ref_names_the_refs_there(tmp_path: Path) -> None:
    source = _organisation(tmp_path)
    done = invoke(
        "new", "online", str(tmp_path / "svc"), "--defaults", "--templates", f"{source}@v9"
    )
    assert done.exit_code == 2, done.output
    assert "no tag, branch or commit 'v9'" in done.output and "v1" in done.output
    assert not (tmp_path / "svc").exists()


def test_code_at_render_time_needs_trust(tmp_path: Path) -> None:
    source = _organisation(tmp_path)
    (source / "copier.yml").write_text("_tasks:\n  - touch made-by-a-task\n")
    commit_all(source, "a task")

    refused = invoke("new", "online", str(tmp_path / "a"), "--defaults", "--templates", str(source))
    assert refused.exit_code == 2, refused.output
    assert "runs code at render time" in refused.output and "--trust" in refused.output
    assert not (tmp_path / "a").exists()

    trusted = invoke(
        "new", "online", str(tmp_path / "b"), "--defaults", "--templates", str(source), "--trust"
    )
    assert trusted.exit_code == 0, trusted.output
    assert (tmp_path / "b" / "made-by-a-task").is_file()


def test_an_overlay_cannot_add_questions(tmp_path: Path) -> None:
    source = _organisation(tmp_path)
    (source / "copier.yml").write_text("team_name: {type: str}\n")
    commit_all(source, "a question")
    done = invoke(
        "new", "online", str(tmp_path / "a"), "--defaults", "--templates", str(source), "--trust"
    )
    assert done.exit_code == 2, done.output
    assert "may only add" in done.output and "team_name" in done.output


def test_an_update_of_a_source_that_runs_code_needs_trust_again(tmp_path: Path) -> None:
    source = _organisation(tmp_path)
    project = tmp_path / "svc"
    assert (
        invoke(
            "new", "online", str(project), "--defaults", "--templates", f"{source}@main"
        ).exit_code
        == 0
    )
    (source / "copier.yml").write_text("_tasks:\n  - touch made-by-a-task\n")
    commit_all(source, "a task")
    head = git(project, "rev-parse", "HEAD")

    refused = invoke("update", str(project))
    assert refused.exit_code == 2 and "--trust" in refused.output
    assert git(project, "rev-parse", "HEAD") == head and git(project, "status", "--porcelain") == ""

    trusted = invoke("update", str(project), "--trust", "--json")
    assert trusted.exit_code == 0, trusted.output
    assert "made-by-a-task" in json.loads(trusted.stdout)["added"]


def test_an_overlay_replaces_the_dockerfile_skeleton_every_pattern_imports(
    tmp_path: Path,
) -> None:
    """The shared Dockerfile pieces live once in ``macros/``: an organisation's copy of that
    file changes every pattern's Dockerfile, and the folder never becomes a project file."""
    from mlship.resources import templates_dir

    source = tmp_path / "org-templates"
    (source / "macros").mkdir(parents=True)
    skeleton = (templates_dir() / "macros" / "dockerfile.jinja").read_text()
    ours = "RUN groupadd --system --gid 10001 app"
    assert ours in skeleton
    (source / "macros" / "dockerfile.jinja").write_text(
        skeleton.replace(
            ours, "# org base: the app user comes from it\nRUN groupadd --system --gid 10001 app"
        )
    )
    for pattern in ("online", "batch", "streaming", "chained", "edge"):
        project = tmp_path / pattern
        made = invoke(
            "new", pattern, str(project), "--defaults", "--no-git", "--templates", str(source)
        )
        assert made.exit_code == 0, made.output
        dockerfile = (project / "Dockerfile").read_text()
        assert "# org base: the app user comes from it\nRUN groupadd" in dockerfile
        assert "{%" not in dockerfile and "macro" not in dockerfile
        assert not (project / "macros").exists()
