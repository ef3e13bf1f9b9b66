"""``budget.spike`` and ``budget.spike-missing`` for every pattern: the newest complete
report of the project's load, judged against the pattern's budget in ``mlship.yaml``.

Reports are made and written by spike's own code (``tests/lifecycle/spike_results.py``);
each pattern's test has a report that meets the budget and one broken for each criterion.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from tests.lifecycle import spike_results as reports
from tests.lifecycle.check_helpers import copy_project, found, run


def _set_budget(project: Path, **values: object) -> None:
    record = yaml.safe_load((project / "mlship.yaml").read_text())
    record["budget"].update(values)
    (project / "mlship.yaml").write_text(yaml.safe_dump(record, sort_keys=False))


def _missed(project: Path) -> str:
    (finding,) = found(run(project), "budget.spike")
    assert finding.severity == "error"
    return finding.message


def _passes(project: Path) -> bool:
    result = run(project)
    return found(result, "budget.spike") == [] and found(result, "budget.spike-missing") == []


@pytest.mark.parametrize("pattern", ["online", "chained"])
def test_a_service_report_is_judged_on_p99_error_rate_and_throughput(
    fresh_projects: dict[str, Path], tmp_path: Path, pattern: str
) -> None:
    project = copy_project(fresh_projects, pattern, tmp_path)
    _set_budget(project, p99_ms=100.0, max_error_rate=0.001, min_rps=40.0)
    met = reports.service(pattern, "20260301T100000Z", p99=40.0, rps=50.0)
    assert met.verdict == "PASS"  # spike's own verdict on the same budget
    reports.save(project, "20260301T100000Z", met)
    assert _passes(project)

    rel = reports.save(
        project, "20260302T100000Z", reports.service(pattern, "20260302T100000Z", p99=180.0)
    )
    message = _missed(project)
    assert rel in message and f"the {pattern} budget" in message
    assert "p99 180 ms > 100 ms" in message

    reports.save(
        project,
        "20260303T100000Z",
        reports.service(pattern, "20260303T100000Z", p99=40.0, error_rate=0.01, rps=20.0),
    )
    message = _missed(project)
    assert "error rate 0.01 > 0.001" in message and "throughput 20 req/s < 40 req/s" in message
    assert "p99" not in message


def test_a_streaming_report_is_judged_end_to_end_and_on_the_lag_left(
    fresh_projects: dict[str, Path], tmp_path: Path
) -> None:
    project = copy_project(fresh_projects, "streaming", tmp_path)
    reports.save(project, "20260301T100000Z", reports.stream("20260301T100000Z", p99=300.0))
    assert _passes(project)

    reports.save(
        project, "20260302T100000Z", reports.stream("20260302T100000Z", p99=1500.0, end_lag=7)
    )
    message = _missed(project)
    assert "p99 1500 ms > 1000 ms" in message
    assert "consumer lag at the end 7 events > 0 events" in message


def test_a_batch_report_is_judged_on_its_window_memory_and_rejects(
    fresh_projects: dict[str, Path], tmp_path: Path
) -> None:
    project = copy_project(fresh_projects, "batch", tmp_path)
    # a million rows in a 60 min window: at least 278 rows/s
    _set_budget(project, min_rps=278.0)
    met = reports.batch("20260301T100000Z", rows_per_s=5000.0, peak_memory_mb=900.0)
    assert met.verdict == "PASS"
    reports.save(project, "20260301T100000Z", met)
    assert _passes(project)

    reports.save(
        project,
        "20260302T100000Z",
        reports.batch(
            "20260302T100000Z", rows_per_s=100.0, peak_memory_mb=5000.0, rejected_beyond=100
        ),
    )
    message = _missed(project)
    assert "throughput 100 rows/s < 278 rows/s" in message
    assert "(a run of its rows would take 166.7 min of the 60 min window)" in message
    assert "peak memory 5000 MiB > 4096 MiB" in message
    assert "error rate 0.005 > 0.001" in message
    assert "p99" not in message  # a batch budget has none


def test_an_edge_report_is_judged_on_the_shipped_variant_on_the_device(
    fresh_projects: dict[str, Path], tmp_path: Path
) -> None:
    project = copy_project(fresh_projects, "edge", tmp_path)
    _set_budget(project, max_model_mb=1.0, max_memory_mb=64.0)
    # host p99 10 ms x the phone's factor 3 = 30 ms on the device: within 50 ms
    reports.save(project, "20260301T100000Z", reports.edge("20260301T100000Z", host_p99=10.0))
    assert _passes(project)

    reports.save(
        project,
        "20260302T100000Z",
        reports.edge("20260302T100000Z", host_p99=20.0, size_mb=2.5),
    )
    message = _missed(project)
    # 60 ms on the device; the int8 variant (6 ms) is not the one shipped
    assert "p99 60 ms > 50 ms" in message and "model file 2.5 MiB > 1 MiB" in message
    assert "peak memory" not in message

    _set_budget(project, max_memory_mb=8.0)
    assert "peak memory 12 MiB > 8 MiB" in _missed(project)


def test_an_interrupted_run_gives_way_to_the_newest_complete_one(
    fresh_projects: dict[str, Path], tmp_path: Path
) -> None:
    project = copy_project(fresh_projects, "online", tmp_path)
    stopped = reports.service("online", "20260302T100000Z", p99=900.0, interrupted=True)
    reports.save(project, "20260302T100000Z", stopped)
    (missing,) = found(run(project), "budget.spike-missing")
    assert missing.severity == "warning"
    assert "1 interrupted run(s) passed over: spikes/20260302T100000Z/result.json" in (
        missing.message
    )

    reports.save(
        project, "20260301T100000Z", reports.service("online", "20260301T100000Z", p99=40.0)
    )
    assert _passes(project)  # the older complete run counts, not the newer interrupted one


def test_a_report_of_another_load_does_not_count(
    fresh_projects: dict[str, Path], tmp_path: Path
) -> None:
    project = copy_project(fresh_projects, "batch", tmp_path)
    reports.save(
        project, "20260301T100000Z", reports.service("online", "20260301T100000Z", p99=900.0)
    )
    result = run(project)
    assert found(result, "budget.spike") == []
    (missing,) = found(result, "budget.spike-missing")
    assert "no complete spike report of this job's load" in missing.message


@pytest.mark.parametrize("pattern", ["online", "batch", "streaming", "edge", "chained"])
def test_a_report_older_than_the_model_is_flagged(
    fresh_projects: dict[str, Path], tmp_path: Path, pattern: str
) -> None:
    project = copy_project(fresh_projects, pattern, tmp_path)
    stamp = "20260301T100000Z"
    made = {
        "online": lambda: reports.service("online", stamp, p99=40.0),
        "chained": lambda: reports.service("chained", stamp, p99=40.0),
        "streaming": lambda: reports.stream(stamp, p99=300.0),
        "batch": lambda: reports.batch(stamp, rows_per_s=5000.0, peak_memory_mb=900.0),
        "edge": lambda: reports.edge(stamp, host_p99=10.0),
    }[pattern]()
    rel = reports.save(project, stamp, made)
    assert _passes(project)

    artifact = b"a retrained model"
    (project / "models").mkdir(exist_ok=True)
    (project / "models" / "model.onnx").write_bytes(artifact)
    manifest = {
        "name": "m",
        "version": "2",
        "framework": "onnx",
        "file": "model.onnx",
        "sha256": hashlib.sha256(artifact).hexdigest(),
        "created": "2026-03-02T00:00:00+00:00",
    }
    (project / "models" / "manifest.json").write_text(json.dumps(manifest))
    message = _missed(project)
    assert f"the newest spike ({rel}, 2026-03-01 10:00) is older than the model" in message
