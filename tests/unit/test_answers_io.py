"""Answers files and flags: read, merge (flags win), validate with file and line in errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mlship.errors import InputError
from mlship.recommend.answers import (
    describe_missing,
    load_answers,
    merge_answers,
    missing_required,
    read_answers_file,
    validate_answers,
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_yaml_and_json_files_give_the_same_answers(tmp_path: Path) -> None:
    yml = write(tmp_path, "a.yaml", "traffic:\n  arrival: requests\n  peak_rps: 300\n")
    jsn = write(
        tmp_path, "a.json", json.dumps({"traffic": {"arrival": "requests", "peak_rps": 300}})
    )
    assert load_answers(yml) == load_answers(jsn)
    assert load_answers(yml).traffic.peak_rps == 300.0


def test_flags_override_file_values(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", "traffic: {arrival: requests}\nlatency: {p99_ms: 50}\n")
    answers = load_answers(path, {"latency.p99_ms": 20.0, "team.kubernetes": True})
    assert answers.latency.p99_ms == 20.0 and answers.team.kubernetes is True


def test_merge_keeps_the_file_untouched() -> None:
    data = {"traffic": {"arrival": "events"}}
    merged = merge_answers(data, {"traffic.arrival": "requests", "model.stages": 2})
    assert merged == {"traffic": {"arrival": "requests"}, "model": {"stages": 2}}
    assert data == {"traffic": {"arrival": "events"}}


def test_unknown_key_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", "traffic:\n  arrival: requests\n  colour: blue\n")
    with pytest.raises(InputError) as caught:
        load_answers(path)
    assert caught.value.problems == [f"{path}:3: traffic.colour: unknown key"]
    assert caught.value.exit_code == 2


def test_unknown_enum_names_value_and_allowed(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", "traffic:\n  arrival: pigeons\n")
    with pytest.raises(InputError) as caught:
        load_answers(path)
    (problem,) = caught.value.problems
    assert problem.startswith(f"{path}:2: traffic.arrival: 'pigeons' is not allowed")
    assert "'requests', 'events', 'datasets' or 'on-device'" in problem


def test_wrong_type_and_negative_budget(tmp_path: Path) -> None:
    path = write(
        tmp_path, "a.yaml", "traffic: {arrival: requests, peak_rps: lots}\nlatency: {p99_ms: -5}\n"
    )
    with pytest.raises(InputError) as caught:
        load_answers(path)
    text = "\n".join(caught.value.problems)
    assert "traffic.peak_rps: Input should be a valid number (got 'lots')" in text
    assert f"{path}:2: latency.p99_ms: Input should be greater than 0 (got -5)" in text


def test_a_flag_problem_names_the_flag(tmp_path: Path) -> None:
    source = read_answers_file(write(tmp_path, "a.yaml", "traffic: {arrival: requests}\n"))
    with pytest.raises(InputError) as caught:
        validate_answers(source, {"latency.p99_ms": 0.0}, {"latency.p99_ms": "--p99-ms"})
    assert caught.value.problems == [
        "latency.p99_ms: Input should be greater than 0 (got 0.0) "
        "(allowed: a number greater than 0 up to 86,400,000) [given as --p99-ms]"
    ]


def test_contradictory_answers_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", "traffic: {arrival: on-device}\nhardware: {target: server}\n")
    with pytest.raises(InputError) as caught:
        load_answers(path)
    assert "traffic.arrival 'on-device' contradicts hardware.target 'server'" in str(caught.value)


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", "traffic:\n  arrival: requests\n  peak_rps: [1, 2\n")
    with pytest.raises(InputError, match=rf"^{re.escape(str(path))}:\d+: not valid YAML"):
        read_answers_file(path)


def test_malformed_json_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "a.json", '{\n  "traffic": {"arrival": "requests"},\n}\n')
    with pytest.raises(InputError, match=rf"^{re.escape(str(path))}:3: not valid JSON"):
        read_answers_file(path)


@pytest.mark.parametrize("text", ["- requests\n", "just words\n"])
def test_a_file_that_is_not_a_mapping(tmp_path: Path, text: str) -> None:
    with pytest.raises(InputError, match="must be a mapping"):
        read_answers_file(write(tmp_path, "a.yaml", text))


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        read_answers_file(tmp_path / "nope.yaml")
    with pytest.raises(InputError, match="is a directory"):
        read_answers_file(tmp_path)
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InputError, match="cannot read answers file"):
        read_answers_file(binary)


def test_missing_required_lists_arrival_with_allowed_values() -> None:
    assert missing_required({}) == ["traffic.arrival"]
    assert missing_required({"traffic": {"peak_rps": 3}}) == ["traffic.arrival"]
    assert missing_required({"traffic": {"arrival": "events"}}) == []
    assert describe_missing(["traffic.arrival"]) == [
        "traffic.arrival (allowed: requests, events, datasets, on-device)"
    ]


def test_empty_file_means_no_answers(tmp_path: Path) -> None:
    source = read_answers_file(write(tmp_path, "a.yaml", "# nothing yet\n"))
    assert source.data == {} and missing_required(source.data) == ["traffic.arrival"]
