"""The package's house rules: fast CLI start, layering, one error path."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from pydantic import ValidationError

from mlship.contracts import Answers
from mlship.errors import EXIT_BAD_INPUT, InputError, MlshipError
from mlship.validation import describe_validation_error

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("locust", "copier", "numpy", "sklearn", "onnx", "onnxruntime", "gevent", "torch")


def test_cli_import_pulls_in_no_heavy_library() -> None:
    code = f"import sys, mlship.cli; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "", f"heavy modules imported at CLI start: {result.stdout}"


def test_every_part_of_the_package_has_a_layer() -> None:
    """A new module or wing must be placed in the layers contract, not slip past it."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c["type"] == "layers")["layers"]
    placed = {name.strip() for layer in layers for name in layer.replace(":", "|").split("|")}
    parts = {p.stem for p in (ROOT / "mlship").glob("*.py")} - {"__init__", "__main__"}
    parts |= {p.name for p in (ROOT / "mlship").iterdir() if (p / "__init__.py").exists()}
    parts -= {"data"}
    assert not sorted(parts - placed), f"place these in a layer: {sorted(parts - placed)}"


def test_import_linter_contracts_hold() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    command = [str(lint_imports)] if lint_imports.exists() else ["lint-imports"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout and "kept" in result.stdout.lower(), result.stdout


def test_input_error_lists_problems_and_hint() -> None:
    error = InputError("bad answers", hint="see docs", problems=["a: wrong", "b: missing"])
    assert str(error) == "bad answers\n  a: wrong\n  b: missing\nhint: see docs"
    assert error.exit_code == EXIT_BAD_INPUT
    assert isinstance(error, MlshipError)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            {"traffic": {"arrival": "carrier-pigeon"}},
            "traffic.arrival: 'carrier-pigeon' is not allowed (allowed: 'requests', 'events', 'datasets' or 'on-device')",
        ),
        ({"traffic": {"arrival": "requests", "colour": 1}}, "traffic.colour: unknown key"),
        ({"traffic": {}}, "traffic.arrival: required but missing"),
        (
            {"traffic": {"arrival": "requests"}, "latency": {"p99_ms": -5}},
            "latency.p99_ms: Input should be greater than 0 (got -5)",
        ),
        (
            {"traffic": {"arrival": "requests"}, "model": {"stages": True}},
            "model.stages: Input should be a valid integer (got True)",
        ),
    ],
)
def test_validation_errors_name_field_value_and_allowed(raw: dict, expected: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Answers.model_validate(raw)
    assert expected in describe_validation_error(caught.value)


def test_contradictory_answers_are_refused_with_both_fields_named() -> None:
    with pytest.raises(ValidationError) as caught:
        Answers.model_validate({"traffic": {"arrival": "on-device"}})
    (line,) = describe_validation_error(caught.value)
    assert "traffic.arrival" in line and "hardware.target" in line
