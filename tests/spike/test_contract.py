"""A whole spike of a project: spike starts it with ``make serve``, builds the bodies from
its manifest, takes the budget from its ``mlship.yaml``, and saves its reports.

The ``--json`` output is a machine contract: its keys are pinned here. The HTML report
is opened in headless Chromium to check that its charts are really drawn.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.spike.helpers import CliRun, make_project, server_command, spike_cli

BUDGET = {"p99_ms": 200.0, "max_error_rate": 0.01, "min_rps": 30.0}

TOP_KEYS = {
    "schema_version",
    "started",
    "pattern",
    "kind",
    "interrupted",
    "target",
    "profile",
    "stats",
    "batch",
    "stream",
    "edge",
    "capacity",
    "budget",
    "verdict",
    "criteria",
    "notes",
    "artifacts",
}
STATS_KEYS = {
    "requests",
    "ok",
    "errors",
    "error_rate",
    "duration_s",
    "rps",
    "ok_rps",
    "sustained_rps",
    "latency_ms",
    "errors_by_kind",
    "schedule",
    "invalid",
    "timeseries",
    "histogram",
}
LATENCY_KEYS = {"min", "mean", "p50", "p90", "p95", "p99", "p99_9", "max"}
SCHEDULE_KEYS = {
    "offered_rps",
    "scheduled",
    "late",
    "dropped",
    "late_threshold_ms",
    "max_outstanding",
}
SECOND_KEYS = {"t", "sent", "completed", "errors", "p50", "p90", "p99", "max"}
TARGET_KEYS = {"url", "path", "project", "started_by_spike"}
PROFILE_KEYS = {
    "kind",
    "description",
    "users",
    "spawn_rate",
    "rate",
    "duration_s",
    "arrivals",
    "rows",
    "threads",
    "workers",
    "timeout_s",
    "invalid_share",
    "payloads",
}
BUDGET_KEYS = {
    "p99_ms",
    "max_error_rate",
    "min_rps",
    "max_memory_mb",
    "max_model_mb",
    "max_lag",
    "unit",
    "source",
}
CRITERION_KEYS = {"name", "limit", "measured", "passed", "reason"}
ARTIFACT_KEYS = {"dir", "raw", "service_log", "json", "markdown", "html"}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("contract") / "proj"
    return make_project(folder, server_command("validate", "--features", "4"), budget=BUDGET)


@pytest.fixture(scope="module")
def run(project: Path) -> CliRun:
    result = spike_cli(str(project), "--duration", "3s", "--json", "--ready-timeout", "30s")
    assert result.code == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def result(run: CliRun) -> dict[str, Any]:
    return run.json()


def test_json_contract_keys(result: dict[str, Any]) -> None:
    assert set(result) == TOP_KEYS
    assert result["schema_version"] == 2
    assert (result["pattern"], result["kind"], result["interrupted"]) == (
        "online",
        "service",
        False,
    )
    assert result["batch"] is None and result["stream"] is None and result["edge"] is None
    assert set(result["stats"]) == STATS_KEYS
    assert set(result["stats"]["latency_ms"]) == LATENCY_KEYS
    assert set(result["stats"]["schedule"]) == SCHEDULE_KEYS
    assert result["stats"]["timeseries"] and set(result["stats"]["timeseries"][0]) == SECOND_KEYS
    assert set(result["stats"]["histogram"]) == {"edges_ms", "counts"}
    assert set(result["target"]) == TARGET_KEYS
    assert set(result["profile"]) == PROFILE_KEYS
    assert set(result["budget"]) == BUDGET_KEYS
    assert result["criteria"] and all(set(c) == CRITERION_KEYS for c in result["criteria"])
    assert set(result["artifacts"]) == ARTIFACT_KEYS
    assert result["capacity"] is None and result["stats"]["invalid"] is None


def test_project_run_uses_its_budget_manifest_and_service(
    result: dict[str, Any], project: Path
) -> None:
    # no --rate and no --users: the open model at the budget's target rate
    assert result["profile"]["kind"] == "open" and result["profile"]["rate"] == 30.0
    assert result["budget"]["source"] == {
        "p99_ms": "mlship.yaml",
        "max_error_rate": "mlship.yaml",
        "min_rps": "mlship.yaml",
    }
    assert [c["name"] for c in result["criteria"]] == ["p99_ms", "max_error_rate", "min_rps"]
    assert result["verdict"] == "PASS"
    # bodies generated from the manifest are valid for the service (it answers 422 otherwise)
    assert result["stats"]["errors"] == 0 and result["stats"]["requests"] == 90
    assert result["profile"]["payloads"].startswith("generated from")
    assert result["target"]["started_by_spike"] is True
    assert result["target"]["url"].startswith("http://127.0.0.1:")
    run_dir = Path(result["artifacts"]["dir"])
    assert run_dir.parent == project / "spikes"
    assert json.loads((run_dir / "result.json").read_text()) == result
    assert "test server: mode validate" in (run_dir / "service.log").read_text()
    assert not (run_dir / "work").exists()
    lines = (run_dir / "latencies.csv").read_text().splitlines()
    assert lines[0] == "t,latency_ms,outcome,valid,late" and len(lines) == 91


def test_exact_percentiles_match_the_raw_latencies(result: dict[str, Any]) -> None:
    raw = Path(result["artifacts"]["raw"]).read_text().splitlines()[1:]
    latencies = sorted(float(line.split(",")[1]) for line in raw)
    n = len(latencies)
    assert result["stats"]["latency_ms"]["p50"] == pytest.approx(latencies[(n + 1) // 2 - 1])
    assert result["stats"]["latency_ms"]["max"] == pytest.approx(latencies[-1])
    assert sum(result["stats"]["histogram"]["counts"]) == n


def test_markdown_summary(result: dict[str, Any]) -> None:
    text = Path(result["artifacts"]["markdown"]).read_text()
    assert text.startswith("### mlship spike: PASS")
    assert "| p99_ms | 200 |" in text
    assert "| requests | req/s | p50 ms |" in text
    assert "Schedule: 90 sends due at 30 req/s" in text


def test_human_output_has_the_final_table(project: Path) -> None:
    run = spike_cli(str(project), "--rate", "20", "--duration", "1s", "--p99-ms", "0.001")
    assert run.code == 1  # an impossible budget: FAIL
    out = run.stdout
    assert out.startswith("FAIL")
    for column in ("requests", "req/s", "p50", "p90", "p95", "p99", "p99.9", "max", "errors"):
        assert column in out
    assert "exceeds the 0.00 ms budget" in out
    assert "report:" in out


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_html_report_renders_its_charts_in_a_browser(
    result: dict[str, Any], tmp_path: Path
) -> None:
    html = Path(result["artifacts"]["html"])
    text = html.read_text()
    # self-contained: nothing to fetch
    assert "<script src" not in text and "<link" not in text and "cdn" not in text.lower()
    browser = _chromium()
    if browser is None:
        pytest.fail("this test needs Debian's chromium: apt-get install chromium (.ci/run does)")
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1100,2200",
    ]
    dom = subprocess.run(
        [browser, *flags, "--dump-dom", html.as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert 'data-charts-rendered="3"' in dom
    for chart in ("latency-over-time", "throughput-over-time", "latency-distribution"):
        assert f'id="{chart}"' in dom
    assert dom.count('data-rendered="true"') == 3
    assert dom.count('class="budget"') >= 3  # the budget is drawn on every chart
    shot = tmp_path / "report.png"
    subprocess.run(
        [browser, *flags, f"--screenshot={shot}", html.as_uri()],
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_compare_two_runs(result: dict[str, Any], project: Path) -> None:
    # a generous p99: this test is about the comparison, not the verdict on a busy machine
    second = spike_cli(
        str(project), "--rate", "60", "--duration", "2s", "--p99-ms", "10000", "--json"
    )
    assert second.code == 0, second.stderr
    b = second.json()["artifacts"]["dir"]
    a = result["artifacts"]["dir"]
    cmp = spike_cli("--compare", a, b, "--json")
    assert cmp.code == 0, cmp.stderr
    data = cmp.json()
    metrics = {m["name"]: m for m in data["metrics"]}
    assert metrics["requests"]["a"] == 90 and metrics["requests"]["b"] == 120
    assert metrics["requests"]["delta"] == 30
    assert metrics["rps"]["better"] is True
    assert set(metrics["p99_ms"]) == {"name", "a", "b", "delta", "change_pct", "better"}
    human = spike_cli("--compare", a, str(Path(b) / "result.json"))
    assert human.code == 0 and "p99_ms" in human.stdout
    bad = spike_cli("--compare", a, str(project))
    assert bad.code == 2 and "neither a spike run folder" in bad.stderr


def test_live_view_on_a_terminal(project: Path) -> None:
    """On a terminal spike redraws a progress line while the load runs."""
    import pexpect

    child = pexpect.spawn(
        sys.executable,
        # a generous budget: this test is about the live view, not the verdict, and a
        # loaded CI machine must not turn it into a FAIL
        [
            "-m",
            "mlship",
            "spike",
            str(project),
            "--rate",
            "40",
            "--duration",
            "3s",
            "--p99-ms",
            "60000",
            "--max-error-rate",
            "0.5",
            "--min-rps",
            "1",
        ],
        env={**os.environ, "COLUMNS": "160", "TERM": "xterm"},
        timeout=60,
        encoding="utf-8",
    )
    try:
        child.expect(r"requests \d+\s+req/s [\d.]+\s+p50 [\d.]+ ms\s+p99 [\d.]+ ms\s+errors 0")
        child.expect(pexpect.EOF)
        assert "PASS" in (child.before or "")
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
