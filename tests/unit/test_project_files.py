"""Moving a finished project into place never loses a user file (property-based)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mlship.errors import InputError
from mlship.new.files import fix_answers_file, make_parents, move_into, remove_created

NAMES = st.sampled_from(["a", "b", "src", "models", "README.md", "x.py"])
PATHS = st.lists(NAMES, min_size=1, max_size=3).map(lambda parts: "/".join(parts))
TREES = st.dictionaries(PATHS, st.binary(max_size=8), max_size=8)


def _write(root: Path, tree: dict[str, bytes]) -> dict[str, bytes]:
    """Write the files whose paths do not clash with earlier ones; return what was written."""
    written: dict[str, bytes] = {}
    for rel, content in tree.items():
        target = root / rel
        if any(
            p.exists() and not p.is_dir() for p in [*target.parents][: len(Path(rel).parts) - 1]
        ):
            continue
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        written[rel] = content
    return written


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@settings(max_examples=150, deadline=None)
@given(generated=TREES, existing=TREES)
def test_moving_keeps_every_user_file_or_changes_nothing(
    generated: dict[str, bytes], existing: dict[str, bytes]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        source, dest = Path(tmp) / "staging", Path(tmp) / "dest"
        source.mkdir()
        dest.mkdir()
        made = _write(source, generated)
        user = _write(dest, existing)
        before = _files(dest)
        try:
            overwritten = move_into(source, dest)
        except InputError as error:
            assert error.problems
            assert _files(dest) == before
            return
        after = _files(dest)
        for rel, content in user.items():
            assert after[rel] == (made.get(rel, content)), rel
        for rel, content in made.items():
            assert after[rel] == content
        assert sorted(overwritten) == sorted(set(made) & set(user))
        assert set(after) == set(made) | set(user)


def test_moving_into_a_missing_folder_is_one_rename(tmp_path: Path) -> None:
    source = tmp_path / "staging"
    (source / "src").mkdir(parents=True)
    (source / "src" / "a.py").write_text("A = 1\n")
    assert move_into(source, tmp_path / "dest") == []
    assert not source.exists()
    assert (tmp_path / "dest" / "src" / "a.py").read_text() == "A = 1\n"


def test_parents_made_for_a_project_are_removed_again_on_failure(tmp_path: Path) -> None:
    created = make_parents(tmp_path / "a" / "b" / "c")
    assert [p.name for p in created] == ["a", "b", "c"]
    remove_created(created)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="is a file"):
        make_parents(tmp_path / "file" / "sub")


def test_the_answers_file_names_the_template_inside_mlship(tmp_path: Path) -> None:
    answers = tmp_path / ".copier-answers.yml"
    answers.write_text("# header\n_src_path: /tmp/mlship-template-x1y2\nproject_name: svc\n")
    fix_answers_file(tmp_path, "online", "0.1.0")
    text = answers.read_text()
    assert text.startswith("# header\n")
    assert "/tmp/" not in text
    assert yaml.safe_load(text) == {
        "_commit": "0.1.0",
        "_src_path": "mlship:templates/online",
        "project_name": "svc",
    }
