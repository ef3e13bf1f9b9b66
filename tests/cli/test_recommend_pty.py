"""A real pseudo-terminal session: the questionnaire asks, re-asks an invalid answer,
skips what a flag answered, and ends with a recommendation and a decision record."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pexpect
import pytest

from mlship.record import read_decision_record

# (text of the question, what the person types); Enter keeps the default.
DIALOGUE = [
    ("Peak requests", "300"),
    ("How is the load shaped", ""),
    ("How stale may a prediction be", "realtime"),
    ("most sensitive data", "pii"),
    ("Must the input data stay on the device", ""),
    ("reproducible and auditable", ""),
    ("Where does the model run", ""),
    ("work without a network", "n"),
    ("Is a GPU available", ""),
    ("What framework", "sklearn"),
    ("Size of the model artifact", "5"),
    ("How many models feed each other", ""),
    ("Who will run it", ""),
    ("already run Kubernetes", "no"),
]


@pytest.mark.timeout(120)
def test_questionnaire_in_a_real_terminal(tmp_path: Path) -> None:
    env = {**os.environ, "TERM": "dumb", "COLUMNS": "200", "LINES": "50"}
    env.pop("MLSHIP_PATTERNS_DIR", None)
    child = pexpect.spawn(
        sys.executable,
        ["-m", "mlship", "recommend", "--p99-ms", "50", "--save"],
        cwd=str(tmp_path),
        env=env,
        encoding="utf-8",
        timeout=30,
        dimensions=(50, 200),
    )
    try:
        child.expect("How does work reach the model")
        child.sendline("pigeons")
        child.expect(r"'pigeons' is not allowed \(allowed: requests, events, datasets, on-device\)")
        child.expect("try again")
        child.expect("How does work reach the model")
        child.sendline("requests")
        for question, reply in DIALOGUE:
            child.expect(question)
            child.sendline(reply)
        child.expect("Recommended pattern: online")
        child.expect(r"Next: mlship new online \./my-online-project --from mlship\.yaml")
        child.expect(pexpect.EOF)
        transcript = child.before
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, transcript
    record = read_decision_record(tmp_path / "mlship.yaml")
    assert record.answers is not None
    assert record.answers.traffic.arrival == "requests"
    assert record.answers.traffic.peak_rps == 300.0
    assert record.answers.latency.p99_ms == 50.0  # from the flag: never asked
    assert record.answers.latency.freshness == "realtime"
    assert record.answers.data.sensitivity == "pii"
    assert record.budget.p99_ms == 50.0 and record.budget.min_rps == 300.0


@pytest.mark.timeout(60)
def test_a_flag_answered_question_is_not_asked(tmp_path: Path) -> None:
    env = {**os.environ, "TERM": "dumb", "COLUMNS": "200", "LINES": "50"}
    child = pexpect.spawn(
        sys.executable,
        ["-m", "mlship", "recommend", "--p99-ms", "50", "--arrival", "events", "--interactive"],
        cwd=str(tmp_path),
        env=env,
        encoding="utf-8",
        timeout=30,
        dimensions=(50, 200),
    )
    seen: list[str] = []
    winner = None
    try:
        while True:
            index = child.expect([r"\): $", r"\]: $", "Recommended pattern: (\\w+)", pexpect.EOF])
            if index in (0, 1):
                seen.append(child.before.splitlines()[-1] if child.before else "")
                child.sendline("")
            elif index == 2:
                winner = child.match.group(1)
            else:
                break
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    assert winner == "streaming"
    assert not any("reach the model" in line or "latency budget" in line for line in seen)
    assert any("Peak requests" in line for line in seen)
