"""The pattern pages and the questionnaire reference match the data they are made from."""

from __future__ import annotations

from pathlib import Path

from mlship.knowledge.fields import answer_fields
from mlship.recommend.docs import generated_docs, main

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_committed_docs_equal_the_generated_ones() -> None:
    stale = [
        relative
        for relative, text in generated_docs().items()
        if not (DOCS / relative).exists() or (DOCS / relative).read_text() != text
    ]
    assert not stale, f"run `python -m mlship.recommend.docs` to refresh: {stale}"


def test_check_mode_reports_and_writes_nothing(tmp_path: Path) -> None:
    assert main(["--docs", str(tmp_path), "--check"]) == 1
    assert list(tmp_path.iterdir()) == []
    assert main(["--docs", str(tmp_path)]) == 0
    assert main(["--docs", str(tmp_path), "--check"]) == 0


def test_questionnaire_documents_every_answer_with_its_allowed_values() -> None:
    text = generated_docs()["questionnaire.md"]
    for path, spec in answer_fields().items():
        assert f"## `{path}`" in text
        assert f"- allowed: {spec.allowed()}" in text


def test_questionnaire_names_the_real_flags() -> None:
    from mlship.cli.recommend import FLAG_PATHS

    text = generated_docs()["questionnaire.md"]
    for flag, path in FLAG_PATHS.values():
        section = text.split(f"## `{path}`", 1)[1].split("\n## ", 1)[0]
        assert f"- flag: `{flag}" in section, path
