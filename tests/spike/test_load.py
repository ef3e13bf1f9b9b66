"""spike against real services with known behaviour, on loopback.

Each service is one uvicorn process whose handler blocks the only event loop, so its
capacity is known: 1 / service time. These tests check that spike's figures match
what the service really does.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.spike.helpers import Server, spike_cli, write_payloads


@pytest.mark.slow
def test_capacity_search_finds_the_knee_of_a_serial_service(
    server: Callable[..., Server], tmp_path: Path
) -> None:
    svc = server("serial", "--service-ms", "20")
    payloads = write_payloads(tmp_path / "p.ndjson")
    run = spike_cli(
        svc.url,
        "--payloads",
        str(payloads),
        "--find-capacity",
        "--p99-ms",
        "150",
        "--start-rate",
        "10",
        "--step-duration",
        "3s",
        "--max-search-time",
        "90s",
        "--timeout",
        "3s",
        "--out",
        str(tmp_path / "spikes"),
        "--json",
    )
    assert run.code == 0, run.stderr
    result = run.json()
    capacity = result["capacity"]
    # the true capacity: requests served / time the one worker was busy serving them
    stats = svc.stats()
    true_capacity = stats["served"] / stats["busy_s"]
    found = capacity["sustainable_rps"]
    assert found is not None, capacity
    assert 0.7 * true_capacity <= found <= 1.15 * true_capacity, (found, true_capacity, capacity)
    # and near what the service really delivered when overloaded (its measured ceiling)
    ceiling = max(s["rps"] for s in capacity["steps"] if not s["sustainable"])
    assert 0.8 * ceiling <= found <= 1.1 * ceiling, (found, ceiling, capacity)
    assert capacity["limited_by"] == "budget"
    rates = [s["rate"] for s in capacity["steps"]]
    assert any(s["sustainable"] for s in capacity["steps"])
    assert any(not s["sustainable"] for s in capacity["steps"])
    assert capacity["elapsed_s"] <= 90 + 15
    assert len(rates) == len(set(rates))
    # the reports carry the search: a table of steps and a chart of p99 by offered rate
    assert "Capacity: highest sustainable rate" in Path(result["artifacts"]["markdown"]).read_text()
    html = Path(result["artifacts"]["html"]).read_text()
    assert 'id="capacity-steps"' in html and html.count('class="budget"') == 3  # p99 charts
    steps = [k for k in result["artifacts"] if k.startswith("raw-step-")]
    assert len(steps) == len(rates)


def test_open_model_shows_the_queueing_a_closed_model_hides(
    server: Callable[..., Server], tmp_path: Path
) -> None:
    """A service that freezes 0.5 s every 2 s: one closed client barely notices (it waits
    with the service), an open schedule of independent clients queues up behind it.

    The budget (200 ms) is far above the 2 ms service time, so a busy machine does not decide
    the closed verdict, and far below the stall, which decides the open one."""
    svc = server("stall", "--service-ms", "2", "--stall-every-s", "2", "--stall-s", "0.5")
    payloads = str(write_payloads(tmp_path / "p.ndjson"))
    common = ["--payloads", payloads, "--p99-ms", "200", "--out", str(tmp_path / "s"), "--json"]

    closed = spike_cli(svc.url, "--users", "1", "--duration", "4s", *common)
    assert closed.code == 0, closed.stderr
    closed_result = closed.json()
    assert closed_result["verdict"] == "PASS"
    assert closed_result["stats"]["latency_ms"]["p99"] < 200
    assert closed_result["stats"]["latency_ms"]["max"] > 300  # the stall is there, hidden

    opened = spike_cli(svc.url, "--rate", "100", "--duration", "4s", *common)
    assert opened.code == 1, opened.stderr
    open_result = opened.json()
    assert open_result["verdict"] == "FAIL"
    p99 = open_result["stats"]["latency_ms"]["p99"]
    assert p99 > 300, p99  # queueing behind a 500 ms stall, measured from the schedule
    (failed,) = [c for c in open_result["criteria"] if not c["passed"]]
    assert failed["name"] == "p99_ms" and "exceeds" in failed["reason"]


def test_errors_are_counted_by_kind(server: Callable[..., Server], tmp_path: Path) -> None:
    """Request n gets a 500 when n % 10 == 3 and hangs past the timeout when n % 20 == 7."""
    svc = server("errors", "--hang-s", "5")
    run = spike_cli(
        svc.url,
        "--payloads",
        str(write_payloads(tmp_path / "p.ndjson")),
        "--rate",
        "60",
        "--duration",
        "3s",
        "--timeout",
        "0.5s",
        "--max-error-rate",
        "0.01",
        "--out",
        str(tmp_path / "s"),
        "--json",
    )
    assert run.code == 1, run.stderr
    result = run.json()
    stats = result["stats"]
    n = stats["requests"]
    assert 170 <= n <= 190, n
    kinds = stats["errors_by_kind"]
    assert abs(kinds["status 500"] / n - 0.10) < 0.02, kinds
    assert abs(kinds["timeout"] / n - 0.05) < 0.02, kinds
    assert stats["errors"] == kinds["status 500"] + kinds["timeout"]
    assert abs(stats["error_rate"] - 0.15) < 0.03
    # a timeout's latency is the timeout, not a fast answer
    assert stats["latency_ms"]["max"] >= 500
    (criterion,) = result["criteria"]
    assert criterion["name"] == "max_error_rate" and not criterion["passed"]
    assert "status 500" in criterion["reason"]


def test_connection_refused_is_its_own_kind(server: Callable[..., Server], tmp_path: Path) -> None:
    """The service exits after its 60th request: the rest of the schedule finds it gone."""
    svc = server("fast", "--die-after-requests", "60")
    run = spike_cli(
        svc.url,
        "--payloads", str(write_payloads(tmp_path / "p.ndjson")),
        "--rate", "50",
        "--duration", "4s",
        "--timeout", "1s",
        "--out", str(tmp_path / "s"),
        "--json",
    )  # fmt: skip
    assert run.code == 0, run.stderr
    result = run.json()
    kinds = result["stats"]["errors_by_kind"]
    assert result["stats"]["requests"] == 200
    assert 55 <= result["stats"]["ok"] <= 60, kinds
    assert kinds.get("connection refused", 0) >= 130, kinds
    assert result["verdict"] is None  # no budget anywhere
    assert any("No budget" in note for note in result["notes"])


def test_invalid_share_is_judged_by_the_right_answer(
    server: Callable[..., Server], tmp_path: Path
) -> None:
    """Invalid bodies answered 422 are handled correctly, not errors; valid ones get 200."""
    svc = server("validate", "--features", "4")
    run = spike_cli(
        svc.url,
        "--payloads",
        str(write_payloads(tmp_path / "p.ndjson", n_features=4)),
        "--invalid-share",
        "0.25",
        "--rate",
        "80",
        "--duration",
        "2s",
        "--max-error-rate",
        "0",
        "--out",
        str(tmp_path / "s"),
        "--json",
    )
    assert run.code == 0, run.stdout + run.stderr
    stats = run.json()["stats"]
    invalid = stats["invalid"]
    assert abs(invalid["sent"] / stats["requests"] - 0.25) < 0.02
    assert invalid["rejected_4xx"] == invalid["sent"]
    assert invalid["accepted_2xx"] == 0 and invalid["server_errors_5xx"] == 0
    assert stats["errors"] == 0


def test_workers_split_the_schedule(server: Callable[..., Server], tmp_path: Path) -> None:
    svc = server("fast")
    run = spike_cli(
        svc.url,
        "--payloads",
        str(write_payloads(tmp_path / "p.ndjson")),
        "--rate",
        "100",
        "--duration",
        "3s",
        "--workers",
        "2",
        "--out",
        str(tmp_path / "s"),
        "--json",
    )
    assert run.code == 0, run.stderr
    result = run.json()
    assert result["profile"]["workers"] == 2
    assert result["stats"]["schedule"]["scheduled"] == 300
    assert result["stats"]["errors"] == 0
    assert abs(result["stats"]["rps"] - 100) < 10
    raw = Path(result["artifacts"]["raw"]).read_text().splitlines()
    assert len(raw) == 301  # header + every request, from both worker processes


def test_dropped_and_late_sends_are_counted(server: Callable[..., Server], tmp_path: Path) -> None:
    """A 100 ms serial service at 40 req/s with at most 4 requests in flight: the schedule
    cannot send most requests (dropped, counted as errors); a 1 µs late threshold marks
    sends late, and the report says the schedule was not kept."""
    svc = server("serial", "--service-ms", "100")
    run = spike_cli(
        svc.url,
        "--payloads", str(write_payloads(tmp_path / "p.ndjson")),
        "--rate", "40",
        "--duration", "2s",
        "--max-outstanding", "4",
        "--late-threshold-ms", "0.001",
        "--out", str(tmp_path / "s"),
        "--json",
    )  # fmt: skip
    result = run.json()
    schedule = result["stats"]["schedule"]
    assert schedule["scheduled"] == 80 and schedule["max_outstanding"] == 4
    assert schedule["dropped"] >= 40, schedule
    assert result["stats"]["errors_by_kind"]["dropped (max outstanding)"] == schedule["dropped"]
    assert schedule["late"] > 0.01 * schedule["scheduled"]
    assert any("could not keep the schedule" in note for note in result["notes"])
    assert run.code == 0  # no budget: figures without a verdict


def test_poisson_arrivals(server: Callable[..., Server], tmp_path: Path) -> None:
    """Poisson arrivals: random gaps, the same mean rate (150 expected, sd about 12)."""
    svc = server("fast")
    run = spike_cli(
        svc.url,
        "--payloads", str(write_payloads(tmp_path / "p.ndjson")),
        "--rate", "50",
        "--arrivals", "poisson",
        "--duration", "3s",
        "--out", str(tmp_path / "s"),
        "--json",
    )  # fmt: skip
    assert run.code == 0, run.stderr
    result = run.json()
    assert result["profile"]["arrivals"] == "poisson"
    assert 100 <= result["stats"]["schedule"]["scheduled"] <= 200
    raw = Path(result["artifacts"]["raw"]).read_text().splitlines()[1:]
    due = [float(line.split(",")[0]) for line in raw]
    gaps = sorted(b - a for a, b in itertools.pairwise(due))
    # exponential gaps: the longest is several times the mean, unlike a uniform schedule
    assert gaps[-1] > 3 * (sum(gaps) / len(gaps))
