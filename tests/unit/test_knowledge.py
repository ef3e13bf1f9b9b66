"""The knowledge base loads, is well formed, and a broken pattern file fails with file and field."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from mlship.contracts import Answers
from mlship.errors import KnowledgeBaseError
from mlship.knowledge.patterns import builtin_patterns_dir, load_pattern, load_patterns
from mlship.recommend.engine import recommend
from tests.builtin import BUILTIN_PATTERNS


def test_the_five_patterns_load_in_canonical_order() -> None:
    patterns = load_patterns()
    assert [p.name for p in patterns] == list(BUILTIN_PATTERNS)
    for pattern in patterns:
        assert pattern.rules, f"{pattern.name} has no scoring rules"
        assert pattern.scale_out[-1].when is None


@pytest.fixture
def org_dir(tmp_path: Path) -> Path:
    """An organisation knowledge base holding a copy of the built-in online pattern."""
    folder = tmp_path / "kb"
    folder.mkdir()
    shutil.copy(builtin_patterns_dir() / "online.yaml", folder / "online.yaml")
    return folder


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"fixture drift: {old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1))


def test_misspelt_answer_in_a_rule_names_file_and_field(org_dir: Path) -> None:
    _edit(org_dir / "online.yaml", "field: traffic.arrival", "field: traffic.arival")
    with pytest.raises(KnowledgeBaseError) as caught:
        load_patterns(org_dir)
    message = str(caught.value)
    assert str(org_dir / "online.yaml") in message
    assert "rules[0].when" in message and "traffic.arival" in message


def test_unknown_key_in_a_pattern_file_is_refused(org_dir: Path) -> None:
    _edit(org_dir / "online.yaml", "base_score: 0.3", "base_score: 0.3\nbase_scor: 0.4")
    with pytest.raises(KnowledgeBaseError, match=r"base_scor: unknown key"):
        load_patterns(org_dir)


def test_enum_value_that_can_never_occur_is_refused(org_dir: Path) -> None:
    _edit(org_dir / "online.yaml", "value: requests}", "value: request}")
    with pytest.raises(KnowledgeBaseError, match=r"'request' can never be an answer"):
        load_patterns(org_dir)


def test_numeric_operator_on_a_choice_is_refused(org_dir: Path) -> None:
    _edit(
        org_dir / "online.yaml",
        "{field: traffic.arrival, op: eq, value: requests}",
        "{field: traffic.arrival, op: lte, value: 3}",
    )
    with pytest.raises(KnowledgeBaseError, match=r"needs a numeric answer"):
        load_patterns(org_dir)


def test_weight_out_of_range_is_refused(org_dir: Path) -> None:
    _edit(org_dir / "online.yaml", "weight: 0.35", "weight: 1.5")
    with pytest.raises(KnowledgeBaseError, match=r"rules\[0\]\.weight"):
        load_patterns(org_dir)


def test_reason_must_name_its_answer(org_dir: Path) -> None:
    _edit(
        org_dir / "online.yaml",
        "reason: \"traffic.arrival is 'requests': a caller",
        'reason: "a caller',
    )
    with pytest.raises(KnowledgeBaseError, match=r"must name the answer"):
        load_patterns(org_dir)


def test_unknown_placeholder_is_refused(org_dir: Path) -> None:
    _edit(org_dir / "online.yaml", "{latency.p99_ms}:", "{latency.p99}:")
    with pytest.raises(KnowledgeBaseError, match=r"unknown answer in placeholder: latency.p99"):
        load_patterns(org_dir)


def test_malformed_yaml_names_the_line(org_dir: Path) -> None:
    path = org_dir / "online.yaml"
    path.write_text("name: online\ntitle: [unclosed\n")
    with pytest.raises(KnowledgeBaseError, match=rf"{re.escape(str(path))}:\d+: not valid YAML"):
        load_patterns(org_dir)


def test_file_name_must_match_the_pattern(org_dir: Path) -> None:
    _edit(org_dir / "online.yaml", "name: online", "name: batch")
    with pytest.raises(KnowledgeBaseError, match="does not match the file name"):
        load_pattern(org_dir / "online.yaml")


def test_a_new_pattern_file_in_an_organisation_folder_is_validated(org_dir: Path) -> None:
    (org_dir / "serverless.yaml").write_text("name: serverless\n")
    with pytest.raises(KnowledgeBaseError, match=r"serverless.yaml:\n  title: required") as caught:
        load_patterns(org_dir)
    assert "kind: required but missing" in str(caught.value)


def test_missing_patterns_directory(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeBaseError, match="does not exist"):
        load_patterns(tmp_path / "nowhere")


def test_organisation_weights_change_the_ranking_without_python(org_dir: Path) -> None:
    """A platform team forbids online serving for dataset work by editing YAML only."""
    answers = Answers.model_validate(
        {"traffic": {"arrival": "requests"}, "latency": {"freshness": "minutes"}}
    )
    assert recommend(answers, load_patterns()).pattern == "online"
    _edit(org_dir / "online.yaml", "weight: 0.35", "weight: -0.9")
    custom = load_patterns(org_dir)
    assert [p.name for p in custom] == list(BUILTIN_PATTERNS)
    assert recommend(answers, custom).pattern != "online"


def test_environment_variable_points_at_an_organisation_folder(
    org_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _edit(org_dir / "online.yaml", "title: Online serving", "title: Online serving (ACME)")
    monkeypatch.setenv("MLSHIP_PATTERNS_DIR", str(org_dir))
    assert load_patterns()[0].title == "Online serving (ACME)"
