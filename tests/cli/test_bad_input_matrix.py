"""Bad input, verb by verb: answers files, flags, decision records, models, destinations and
spike targets. Each case exits with 2, names what is wrong, prints no traceback and leaves
the working folder (and every input file) as it was."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlship.cli import app
from tests.model_files import logistic_regression, onnx_classifier, skops_file

RECORD_OK = "mlship_version: '0.1.0'\npattern: online\n"


@dataclass(frozen=True)
class Case:
    name: str
    args: list[str]  # {inputs} is replaced by the folder of the input files
    needles: list[str]  # each must appear in stderr (line wrapping undone)
    code: int = 2


def _prepare(folder: Path) -> None:
    """Every input file the cases refer to, made once per test."""
    folder.mkdir()
    (folder / "inf.yaml").write_text("traffic: {arrival: requests}\nlatency: {p99_ms: .inf}\n")
    (folder / "nan.yaml").write_text("traffic: {arrival: requests}\nlatency: {p99_ms: .nan}\n")
    (folder / "huge.yaml").write_text("traffic: {arrival: requests, peak_rps: 1.0e+308}\n")
    (folder / "rows.yaml").write_text("traffic: {arrival: datasets, rows_per_run: -5}\n")
    (folder / "window.yaml").write_text(
        "traffic: {arrival: datasets}\nlatency: {window_minutes: 0.5}\n"
    )
    (folder / "stages.yaml").write_text("traffic: {arrival: requests}\nmodel: {stages: 500}\n")
    (folder / "bool.yaml").write_text("traffic: {arrival: requests, peak_rps: true}\n")
    (folder / "rec-inf.yaml").write_text(RECORD_OK + "budget: {p99_ms: .inf}\n")
    (folder / "rec-nan.yaml").write_text(RECORD_OK + "budget: {min_rps: .nan}\n")
    (folder / "rec-rate.yaml").write_text(RECORD_OK + "budget: {max_error_rate: 3}\n")
    (folder / "rec-answers.yaml").write_text(
        RECORD_OK + "answers: {traffic: {arrival: requests, peak_rps: 1.0e+308}}\n"
    )
    (folder / "rec-key.yaml").write_text(RECORD_OK + "budjet: {p99_ms: 50}\n")
    (folder / "broken.onnx").write_bytes(b"not a protobuf at all")
    (folder / "model.bin").write_bytes(b"\x00" * 16)
    onnx_classifier(folder / "ok.onnx")
    skops_file(folder / "ok.skops")
    import joblib

    joblib.dump(logistic_regression(), folder / "legacy.joblib")
    (folder / "wide.json").write_text(json.dumps({"n_features": 10**9}))
    (folder / "nine.json").write_text(json.dumps({"n_features": 9}))
    (folder / "model.pt").write_bytes(b"PK\x03\x04not really")
    (folder / "project").mkdir()
    (folder / "project" / "Makefile").write_text("serve:\n\tsleep 30\n")
    (folder / "project" / "mlship.yaml").write_text(RECORD_OK + "budget: {p99_ms: .inf}\n")


CASES = [
    # recommend: answers files
    Case("answers-inf", ["recommend", "-a", "{inputs}/inf.yaml"], ["latency.p99_ms", "finite"]),
    Case("answers-nan", ["recommend", "-a", "{inputs}/nan.yaml"], ["latency.p99_ms", "finite"]),
    Case("answers-huge", ["recommend", "-a", "{inputs}/huge.yaml"], ["traffic.peak_rps", "up to 10,000,000"]),
    Case("answers-rows", ["recommend", "-a", "{inputs}/rows.yaml"], ["traffic.rows_per_run", "greater than 0"]),
    Case("answers-window", ["recommend", "-a", "{inputs}/window.yaml"], ["latency.window_minutes", "a number from 1"]),
    Case("answers-stages", ["recommend", "-a", "{inputs}/stages.yaml"], ["model.stages", "up to 50"]),
    Case("answers-bool", ["recommend", "-a", "{inputs}/bool.yaml"], ["traffic.peak_rps", "valid number"]),
    # recommend: flags
    Case("flag-p99-inf", ["recommend", "--arrival", "requests", "--p99-ms", "inf"], ["latency.p99_ms", "[given as --p99-ms]"]),
    Case("flag-rps-huge", ["recommend", "--arrival", "requests", "--peak-rps", "1e308"], ["traffic.peak_rps", "[given as --peak-rps]"]),
    Case("flag-rows-zero", ["recommend", "--arrival", "datasets", "--rows-per-run", "0"], ["traffic.rows_per_run", "[given as --rows-per-run]"]),
    Case("flag-window-long", ["recommend", "--arrival", "datasets", "--window-minutes", "20000"], ["latency.window_minutes", "up to 10,080"]),
    Case("flag-gpu-nan", ["recommend", "--arrival", "requests", "--accelerator", "gpu", "--gpu-memory-gb", "nan"], ["hardware.gpu_memory_gb", "finite"]),
    Case("flag-device-negative", ["recommend", "--arrival", "on-device", "--target", "mobile", "--device-memory-mb", "-1"], ["hardware.device_memory_mb"]),
    # recommend: destinations
    Case("save-to-proc", ["recommend", "--arrival", "requests", "--save-to", "/proc/mlship.yaml"], ["cannot write decision record /proc/mlship.yaml"]),
    Case("save-to-sys", ["recommend", "--arrival", "requests", "--save-to", "/sys/mlship.yaml"], ["cannot write decision record /sys/mlship.yaml"]),
    Case("save-over-a-bad-record", ["recommend", "--arrival", "requests", "--save-to", "{inputs}/rec-key.yaml"], ["rec-key.yaml exists and is not a decision record", "--overwrite"]),
    # new: flags
    Case("new-p99-inf", ["new", "online", "svc", "--p99-ms", "inf", "--defaults"], ["--p99-ms", "finite"]),
    Case("new-p99-nan", ["new", "online", "svc", "--p99-ms", "nan", "--defaults"], ["--p99-ms", "finite"]),
    Case("new-error-rate", ["new", "online", "svc", "--max-error-rate", "2", "--defaults"], ["--max-error-rate", "less than or equal to 1"]),
    Case("new-min-rps-huge", ["new", "online", "svc", "--min-rps", "1e300", "--defaults"], ["--min-rps", "less than or equal to"]),
    # new: decision records
    Case("record-p99-inf", ["new", "--from", "{inputs}/rec-inf.yaml", "svc", "--defaults"], ["budget.p99_ms", "finite"]),
    Case("record-min-rps-nan", ["new", "--from", "{inputs}/rec-nan.yaml", "svc", "--defaults"], ["budget.min_rps", "finite"]),
    Case("record-error-rate", ["new", "--from", "{inputs}/rec-rate.yaml", "svc", "--defaults"], ["budget.max_error_rate"]),
    Case("record-answers-huge", ["new", "--from", "{inputs}/rec-answers.yaml", "svc", "--defaults"], ["answers.traffic.peak_rps"]),
    Case("record-unknown-key", ["new", "--from", "{inputs}/rec-key.yaml", "svc", "--defaults"], ["budjet: unknown key"]),
    # new: models
    Case("model-missing", ["new", "online", "svc", "--model", "{inputs}/nope.onnx", "--defaults"], ["model:", "nope.onnx: no such file"]),
    Case("model-suffix", ["new", "online", "svc", "--model", "{inputs}/model.bin", "--defaults"], ["unknown model file type '.bin'"]),
    Case("model-broken-onnx", ["new", "online", "svc", "--model", "{inputs}/broken.onnx", "--defaults"], ["broken.onnx: not a valid ONNX model"]),
    Case("model-untrusted-pickle", ["new", "online", "svc", "--model", "{inputs}/legacy.joblib", "--defaults"], ["legacy.joblib", "runs code", "--trust-pickle"]),
    Case("model-torch-without-schema", ["new", "online", "svc", "--model", "{inputs}/model.pt", "--defaults"], ["--input-schema FILE is needed"]),
    Case("model-schema-too-wide", ["new", "online", "svc", "--model", "{inputs}/ok.onnx", "--input-schema", "{inputs}/wide.json", "--defaults"], ["input-schema", "n_features"]),
    Case("model-schema-mismatch", ["new", "online", "svc", "--model", "{inputs}/ok.skops", "--input-schema", "{inputs}/nine.json", "--defaults"], ["describes 9 features but the model ok.skops takes 4"]),
    Case("model-format-mismatch", ["new", "online", "svc", "--model", "{inputs}/ok.onnx", "--model-format", "torch", "--defaults"], ["model-format", "whose format is onnx"]),
    # new: destinations
    Case("dest-proc", ["new", "online", "/proc/mlship-svc", "--defaults"], ["dest: /proc/mlship-svc is under /proc"]),
    Case("dest-sys", ["new", "online", "/sys/mlship/svc", "--defaults"], ["dest: /sys/mlship/svc is under /sys"]),
    Case("dest-dev", ["new", "online", "/dev/mlship-svc", "--defaults"], ["dest: /dev/mlship-svc is under /dev"]),
    Case("dest-under-a-file", ["new", "online", "{inputs}/ok.onnx/svc", "--defaults"], ["ok.onnx is a file"]),
    Case("dest-not-empty", ["new", "online", "{inputs}", "--defaults"], ["is not empty", "--force"]),
    # spike: targets and flags (nothing is started and no traffic is sent)
    Case("spike-scheme", ["spike", "ftp://127.0.0.1:9/"], ["target:", "neither a URL"]),
    Case("spike-port", ["spike", "http://127.0.0.1:99999/"], ["invalid port"]),
    Case("spike-missing-project", ["spike", "{inputs}/no-such-project"], ["target:", "no-such-project"]),
    Case("spike-record-inf", ["spike", "{inputs}/project", "--duration", "1s"], ["budget.p99_ms", "finite"]),
    Case("spike-rate-inf", ["spike", "http://127.0.0.1:9/", "--rate", "inf"], ["--rate"]),
    Case("spike-p99-nan", ["spike", "http://127.0.0.1:9/", "--p99-ms", "nan"], ["--p99-ms"]),
    # patterns
    Case("patterns-unknown", ["patterns", "show", "nightly"], ["'nightly' is not a pattern", "allowed: online"]),
    Case("patterns-dir-missing", ["patterns", "--patterns-dir", "{inputs}/no-kb"], ["no-kb does not exist"]),
]  # fmt: skip


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        if p.is_file()
        else "dir"
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("matrix") / "inputs"
    _prepare(folder)
    return folder


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_refused_cleanly(
    case: Case, inputs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    before = _snapshot(inputs)
    args = [a.replace("{inputs}", str(inputs)) for a in case.args]
    runner = CliRunner(env={"NO_COLOR": "1", "COLUMNS": "200", "MLSHIP_PATTERNS_DIR": ""})
    result = runner.invoke(app, args)
    stderr = result.stderr.replace("\n", " ")
    assert result.exit_code == case.code, (result.stdout, result.stderr, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.stdout + result.stderr
    for needle in case.needles:
        assert needle in stderr, (needle, result.stderr)
    assert result.stdout == ""  # no half-printed result
    assert list(work.iterdir()) == []  # nothing written where the command ran
    assert _snapshot(inputs) == before  # and no input touched
    for arg in args:
        if arg.startswith(("/proc/", "/sys/", "/dev/")):
            assert not Path(arg).exists()
