"""``mlship patterns`` and ``mlship patterns show NAME``: rich, --json, unknown names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlship.cli import app
from mlship.knowledge.patterns import builtin_patterns_dir
from tests.builtin import BUILTIN_PATTERNS


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner(env={"NO_COLOR": "1", "COLUMNS": "160", "MLSHIP_PATTERNS_DIR": ""})


def test_list_shows_the_five_patterns(runner: CliRunner) -> None:
    result = runner.invoke(app, ["patterns"])
    assert result.exit_code == 0, result.stderr
    for name in BUILTIN_PATTERNS:
        assert name in result.stdout
    assert "mlship patterns show NAME" in result.stdout


def test_list_as_json(runner: CliRunner) -> None:
    result = runner.invoke(app, ["patterns", "--json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert [p["name"] for p in data] == list(BUILTIN_PATTERNS)
    assert {"summary", "strengths", "weaknesses", "stack", "scale_out", "rules"} <= set(data[0])


@pytest.mark.parametrize("name", BUILTIN_PATTERNS)
def test_show_each_pattern(runner: CliRunner, name: str) -> None:
    result = runner.invoke(app, ["patterns", "show", name])
    assert result.exit_code == 0, result.stderr
    for heading in ("When to use", "Strengths", "Weaknesses", "Default stack", "Scoring"):
        assert heading in result.stdout
    assert "(base score)" in result.stdout


def test_show_as_json_round_trips_through_the_model(runner: CliRunner) -> None:
    from mlship.knowledge.patterns import Pattern

    result = runner.invoke(app, ["patterns", "show", "streaming", "--json"])
    assert result.exit_code == 0
    pattern = Pattern.model_validate(json.loads(result.stdout))
    assert pattern.name == "streaming" and pattern.scale_out[0].name.startswith("Kafka")


def test_show_unknown_name_lists_the_allowed_ones(runner: CliRunner) -> None:
    result = runner.invoke(app, ["patterns", "show", "serverless"])
    assert result.exit_code == 2
    assert "'serverless' is not a pattern" in result.stderr
    assert "online, batch, edge, streaming, chained" in result.stderr.replace("\n", "")
    assert result.stdout == ""


def test_show_from_an_organisation_folder(runner: CliRunner, tmp_path: Path) -> None:
    text = (builtin_patterns_dir() / "batch.yaml").read_text()
    (tmp_path / "batch.yaml").write_text(text.replace("title: Batch inference", "title: ACME jobs"))
    result = runner.invoke(app, ["patterns", "show", "batch", "--patterns-dir", str(tmp_path)])
    assert result.exit_code == 0 and "ACME jobs" in result.stdout
    (tmp_path / "batch.yaml").write_text("name: batch\nrules: [1]\n")
    result = runner.invoke(app, ["patterns", "--patterns-dir", str(tmp_path)])
    assert result.exit_code == 2 and "batch.yaml" in result.stderr
