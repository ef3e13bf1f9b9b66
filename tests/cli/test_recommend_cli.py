"""``mlship recommend`` through typer's runner: outputs, --save, and every bad-input path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlship.cli import app
from mlship.record import read_decision_record

ROOT = Path(__file__).resolve().parents[2]
FRAUD = ROOT / "examples" / "checkout-fraud.yaml"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner(env={"NO_COLOR": "1", "COLUMNS": "120", "MLSHIP_PATTERNS_DIR": ""})


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def invoke(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    """Exit code, stdout, and stderr with rich's line wrapping undone."""
    result = runner.invoke(app, ["recommend", *args])
    return result.exit_code, result.stdout, result.stderr.replace("\n", "")


def test_human_output_shows_ranking_reasons_tradeoffs_and_next(runner: CliRunner) -> None:
    code, out, err = invoke(runner, "--answers", str(FRAUD))
    assert code == 0, err
    assert "Recommended pattern: online" in out
    for heading in ("Ranking", "Why online", "Ruled out", "Warnings", "Suggested stack"):
        assert heading in out
    assert "traffic.arrival is 'requests'" in out
    assert "chosen" in out
    # every other pattern scores 0 or is ruled out: none is shown as a contender
    assert "runner-up" not in out
    assert "Next: mlship new online ./checkout-fraud --p99-ms 50 --model-format onnx" in out


def test_flags_alone_are_enough_and_override_the_file(runner: CliRunner) -> None:
    code, out, _ = invoke(runner, "--arrival", "events", "--freshness", "seconds", "--json")
    assert code == 0 and json.loads(out)["pattern"] == "streaming"
    code, out, _ = invoke(
        runner, "--answers", str(FRAUD), "--arrival", "datasets", "--freshness", "days",
        "--no-interactive", "--json",
    )  # fmt: skip
    assert code == 0 and json.loads(out)["pattern"] == "batch"


def test_every_answer_has_a_flag(runner: CliRunner) -> None:
    from mlship.cli.recommend import FLAG_PATHS
    from mlship.knowledge.fields import answer_fields

    assert sorted(path for _, path in FLAG_PATHS.values()) == sorted(answer_fields())
    help_text = runner.invoke(app, ["recommend", "--help"], terminal_width=200).stdout
    for flag, path in FLAG_PATHS.values():
        assert flag in help_text, flag
        for choice in answer_fields()[path].choices:
            assert choice in help_text


def test_boolean_flags(runner: CliRunner) -> None:
    code, out, _ = invoke(
        runner, "--arrival", "on-device", "--target", "mobile", "--must-stay-on-device",
        "--offline", "--audit-trail", "--no-kubernetes", "--json",
    )  # fmt: skip
    assert code == 0
    data = json.loads(out)
    assert data["pattern"] == "edge" and len(data["excluded"]) == 4


def test_save_writes_the_decision_record_and_next_reads_it(
    runner: CliRunner, tmp_path: Path
) -> None:
    code, out, _ = invoke(runner, "--answers", str(FRAUD), "--save")
    assert code == 0
    record = read_decision_record(tmp_path / "mlship.yaml")
    assert record.pattern == "online" and record.budget.p99_ms == 50.0
    assert record.budget.min_rps == 300.0 and record.answers is not None
    assert "Decision record written to mlship.yaml" in out
    assert "mlship new online ./checkout-fraud --from mlship.yaml" in out


def test_save_to_a_path_with_json(runner: CliRunner, tmp_path: Path) -> None:
    code, out, err = invoke(runner, "--answers", str(FRAUD), "--save-to", "d/rec.yaml", "--json")
    assert code == 2 and "folder d does not exist" in err and out == ""
    (tmp_path / "d").mkdir()
    code, out, err = invoke(runner, "--answers", str(FRAUD), "--save-to", "d/rec.yaml", "--json")
    assert code == 0
    assert json.loads(out)["next"].endswith("--from d/rec.yaml")
    assert "decision record written to d/rec.yaml" in err
    assert read_decision_record(tmp_path / "d" / "rec.yaml").pattern == "online"


def test_missing_arrival_without_a_terminal_fails_fast(runner: CliRunner, tmp_path: Path) -> None:
    code, out, err = invoke(runner, "--p99-ms", "50", "--save")
    assert code == 2 and out == ""
    assert "missing required answers" in err
    assert "traffic.arrival (allowed: requests, events, datasets, on-device)" in err
    assert "Traceback" not in err and not (tmp_path / "mlship.yaml").exists()


def test_interactive_without_a_terminal_is_refused(runner: CliRunner) -> None:
    code, _, err = invoke(runner, "--arrival", "requests", "--interactive")
    assert code == 2 and "--interactive needs a terminal" in err


def _answers_file(tmp_path: Path, text: str, name: str = "answers.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


BAD_FILES = [
    ("unknown-key", "traffic:\n  arrival: requests\n  colour: blue\n", ["answers.yaml:3", "traffic.colour: unknown key"]),
    ("wrong-type", "traffic:\n  arrival: requests\n  peak_rps: lots\n", ["traffic.peak_rps", "valid number", "'lots'"]),
    ("negative-budget", "traffic: {arrival: requests}\nlatency: {p99_ms: -5}\n", ["latency.p99_ms", "greater than 0", "-5"]),
    ("zero-rate", "traffic: {arrival: requests, peak_rps: 0}\n", ["traffic.peak_rps", "greater than 0"]),
    ("unknown-enum", "traffic: {arrival: requests}\nhardware: {target: toaster}\n", ["hardware.target", "'toaster'", "'server', 'mobile', 'browser' or 'embedded'"]),
    ("malformed", "traffic: [requests\n", ["answers.yaml:", "not valid YAML"]),
    ("contradictory", "traffic: {arrival: on-device}\nhardware: {target: server}\n", ["traffic.arrival 'on-device' contradicts hardware.target 'server'"]),
    ("on-device-data-on-a-server", "traffic: {arrival: requests}\ndata: {must_stay_on_device: true}\n", ["data.must_stay_on_device is true but hardware.target is 'server'"]),
    ("not-a-mapping", "- requests\n", ["must be a mapping"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "needles"), [b[1:] for b in BAD_FILES], ids=[b[0] for b in BAD_FILES]
)
def test_bad_answers_file(runner: CliRunner, tmp_path: Path, text: str, needles: list[str]) -> None:
    path = _answers_file(tmp_path, text)
    code, out, err = invoke(runner, "--answers", path, "--save", "--json")
    assert code == 2, err
    for needle in needles:
        assert needle in err
    assert out == "" and "Traceback" not in err
    assert not (tmp_path / "mlship.yaml").exists()


BAD_FLAGS = [
    ("unknown-enum", ["--arrival", "pigeons"], ["traffic.arrival", "'pigeons'", "[given as --arrival]"]),
    ("negative", ["--arrival", "requests", "--p99-ms", "-1"], ["latency.p99_ms", "greater than 0"]),
    ("not-a-number", ["--arrival", "requests", "--peak-rps", "many"], ["'--peak-rps'", "valid number"]),
    ("zero-stages", ["--arrival", "requests", "--stages", "0"], ["model.stages", "greater than 0"]),
    ("gpu-memory-without-gpu", ["--arrival", "requests", "--gpu-memory-gb", "16"], ["hardware.gpu_memory_gb is set but hardware.accelerator is 'none'"]),
    ("unknown-option", ["--arrival", "requests", "--colour", "blue"], ["--colour"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "needles"), [b[1:] for b in BAD_FLAGS], ids=[b[0] for b in BAD_FLAGS]
)
def test_bad_flags(runner: CliRunner, tmp_path: Path, args: list[str], needles: list[str]) -> None:
    code, out, err = invoke(runner, *args, "--save")
    assert out == ""
    assert code == 2, err
    for needle in needles:
        assert needle in err
    assert "Traceback" not in err and not (tmp_path / "mlship.yaml").exists()


def test_missing_or_unreadable_answers_file(runner: CliRunner, tmp_path: Path) -> None:
    code, _, err = invoke(runner, "--answers", "nope.yaml")
    assert code == 2 and "answers file nope.yaml does not exist" in err
    code, _, err = invoke(runner, "--answers", str(tmp_path))
    assert code == 2 and "is a directory" in err


def test_broken_organisation_knowledge_base(runner: CliRunner, tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "online.yaml").write_text("name: online\ntitel: typo\n")
    code, _, err = invoke(runner, "--arrival", "requests", "--patterns-dir", str(kb))
    assert code == 2 and "online.yaml" in err and "titel: unknown key" in err
    result = runner.invoke(
        app, ["recommend", "--arrival", "requests"], env={"MLSHIP_PATTERNS_DIR": str(kb)}
    )
    assert result.exit_code == 2 and "titel: unknown key" in result.stderr


def _edit_budget(path: Path, **values: float) -> None:
    import yaml

    data = yaml.safe_load(path.read_text())
    data["budget"].update(values)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_save_over_an_edited_record_keeps_the_edited_budget(
    runner: CliRunner, tmp_path: Path
) -> None:
    code, _, _ = invoke(runner, "--arrival", "requests", "--p99-ms", "50", "--save")
    assert code == 0
    record = tmp_path / "mlship.yaml"
    _edit_budget(record, p99_ms=80.0)
    code, out, err = invoke(
        runner, "--arrival", "requests", "--p99-ms", "40", "--peak-rps", "120", "--save"
    )
    assert code == 0, err
    saved = read_decision_record(record)
    assert saved.budget.p99_ms == 80.0  # the hand edit wins over the new answers
    assert saved.budget.min_rps == 120.0  # a criterion nobody edited follows the answers
    assert saved.answers is not None and saved.answers.latency.p99_ms == 40.0
    assert "budget.p99_ms 80 kept (edited by hand; the new answers give 40)" in out
    code, out, err = invoke(
        runner, "--arrival", "requests", "--p99-ms", "40", "--save", "--overwrite"
    )
    assert code == 0 and read_decision_record(record).budget.p99_ms == 40.0


def test_save_refuses_to_switch_a_projects_record_to_another_pattern(
    runner: CliRunner, tmp_path: Path
) -> None:
    record = tmp_path / "mlship.yaml"
    code, _, _ = invoke(runner, "--arrival", "requests", "--save")
    assert code == 0
    import yaml

    data = yaml.safe_load(record.read_text())
    data["project"] = {"name": "fraud-svc", "model_format": "onnx"}
    record.write_text(yaml.safe_dump(data))
    before = record.read_bytes()
    code, out, err = invoke(runner, "--arrival", "datasets", "--freshness", "days", "--save")
    assert code == 2 and out == ""
    assert "decision record of the online project fraud-svc" in err
    assert "--overwrite" in err and record.read_bytes() == before


def test_no_feasible_pattern_exits_1_and_saves_nothing(runner: CliRunner, tmp_path: Path) -> None:
    args = [
        "--arrival", "on-device", "--target", "mobile", "--must-stay-on-device",
        "--device-memory-mb", "1024", "--model-size-mb", "3000", "--save",
    ]  # fmt: skip
    code, out, err = invoke(runner, *args)
    assert code == 1, err
    assert "No feasible pattern" in out and "closest is edge" in out
    assert "Relax one of these constraints" in out and "data.must_stay_on_device" in out
    assert "mlship.yaml not written: no pattern is feasible" in out
    assert not (tmp_path / "mlship.yaml").exists()
    code, out, err = invoke(runner, *args, "--json")
    assert code == 1 and json.loads(out)["feasible"] is False
    assert "not written" in err


def test_a_runner_up_is_shown_only_when_it_scores(runner: CliRunner) -> None:
    code, out, _ = invoke(runner, "--arrival", "events", "--stages", "3")
    assert code == 0 and "runner-up: chained (0.55)" in out
