"""spike's pure parts: durations, exact percentiles, error kinds, verdicts, capacity search."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlship.contracts import Budget, DecisionRecord
from mlship.errors import InputError
from mlship.spike import capacity, payloads, profiles, stats, verdict
from mlship.spike.records import Record, RecordReader, format_line
from mlship.spike.result import BudgetUsed, Stats


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30", 30.0), ("30s", 30.0), ("2m", 120.0), ("1.5m", 90.0), ("500ms", 0.5), ("1h", 3600.0)],
)
def test_durations(text: str, seconds: float) -> None:
    assert profiles.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "s", "-1", "1d", "2 minutes", "0", "0s", "1e3"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(InputError, match="--duration"):
        profiles.parse_duration(text)


def test_nearest_rank_percentiles_are_exact() -> None:
    values = [float(v) for v in range(1, 101)]
    assert stats.percentile(values, 50) == 50.0
    assert stats.percentile(values, 99) == 99.0
    assert stats.percentile(values, 99.9) == 100.0
    assert stats.percentile([7.0], 99) == 7.0
    assert stats.percentile([], 50) is None
    # no rounding to two significant digits (what locust's own statistics do)
    summary = stats.latency_summary([12.345, 12.346, 987.654])
    assert summary.max == 987.654 and summary.p50 == 12.346


def _records(*specs: tuple[float | None, str, bool]) -> list[Record]:
    return [
        Record(t=1000.0 + i * 0.01, latency_ms=lat, outcome=out, valid=valid, late=False)
        for i, (lat, out, valid) in enumerate(specs)
    ]


def _summary(records: list[Record], offered: float | None = 100.0, share: float = 0.0) -> Stats:
    return stats.summarize(
        records,
        offered_rps=offered,
        late_threshold_ms=20,
        max_outstanding=10,
        invalid_share=share,
    )


def test_errors_by_kind_and_dropped_sends() -> None:
    records = _records(
        *[(10.0, "200", True)] * 96,
        (500.0, "timeout", True),
        (3.0, "500", True),
        (1.0, "refused", True),
        (None, "dropped", True),
    )
    s = _summary(records)
    assert s.requests == 100 and s.errors == 4 and s.error_rate == 0.04
    assert s.errors_by_kind == {
        "timeout": 1,
        "status 500": 1,
        "connection refused": 1,
        "dropped (max outstanding)": 1,
    }
    assert s.schedule is not None and s.schedule.dropped == 1
    assert s.latency_ms.max == 500.0  # the timeout's latency counts; the dropped send has none
    assert sum(s.histogram.counts) == 99


def test_invalid_bodies_are_right_when_rejected() -> None:
    records = _records(
        (5.0, "200", True), (1.0, "422", False), (1.0, "200", False), (1.0, "500", False)
    )
    s = _summary(records, share=0.75)
    assert s.errors_by_kind == {"invalid body accepted (2xx)": 1, "status 500": 1}
    assert s.invalid is not None
    assert (s.invalid.rejected_4xx, s.invalid.accepted_2xx, s.invalid.server_errors_5xx) == (
        1,
        1,
        1,
    )
    assert s.latency_ms.p99 == 5.0  # latency is judged on the valid bodies only


def test_events_through_a_broker_are_judged_by_their_prediction() -> None:
    """A streaming project's records: ``ok`` (a prediction came back), ``dlq``, ``missing``."""
    records = _records(
        *[(40.0, "ok", True)] * 7,
        (None, "dlq", True),
        (None, "missing", True),
        (None, "dlq", False),  # an invalid event belongs in the dead-letter topic
        (30.0, "ok", False),  # and is an error when it gets a prediction
    )
    s = _summary(records)
    assert s.requests == 11 and s.ok == 8 and s.errors == 3
    assert s.errors_by_kind == {
        "dead-lettered": 1,
        "missing (no prediction)": 1,
        "invalid event predicted": 1,
    }
    assert s.latency_ms.p99 == 40.0


def test_timeseries_by_second() -> None:
    records = [
        Record(t=100.0 + i / 10, latency_ms=10.0 + i, outcome="200", valid=True, late=False)
        for i in range(30)
    ]
    series = stats.timeseries(records, start=100.0)
    assert [s.sent for s in series] == [10, 10, 10]
    assert series[0].p50 == 14.0 and series[2].max == 39.0
    assert sum(s.completed for s in series) == 30


def test_reader_takes_only_complete_lines(tmp_path: Path) -> None:
    path = tmp_path / "records-1.csv"
    line = format_line(1.5, 2.25, "200", True, False)
    path.write_text(line + line[:7])
    reader = RecordReader(tmp_path)
    assert len(reader.read_new()) == 1
    with path.open("a") as handle:
        handle.write(line[7:])
    (again,) = reader.read_new()
    assert again.latency_ms == 2.25 and again.ok


def test_payloads_from_schema_are_varied_and_shaped(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"input": {"dtype": "float32", "shape": [None, 30]}}))
    schema = payloads.read_schema(manifest)
    bodies = payloads.from_schema(schema, rows=2)
    decoded = [json.loads(b) for b in bodies]
    assert all(len(d["instances"]) == 2 and len(d["instances"][0]) == 30 for d in decoded)
    assert len(set(bodies)) == len(bodies)
    invalid = payloads.invalid_variants(bodies)
    assert not set(invalid) & set(bodies)


def test_named_features_give_some_bodies_as_objects(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.json"
    spec = {"dtype": "float32", "shape": [None, 3], "features": ["a", "b", "c"]}
    manifest.write_text(json.dumps({"input": spec}))
    rows = [
        json.loads(b)["instances"][0] for b in payloads.from_schema(payloads.read_schema(manifest))
    ]
    named = [r for r in rows if isinstance(r, dict)]
    assert named and all(set(r) == {"a", "b", "c"} for r in named)
    assert len(named) == len(rows) // 4


def test_manifest_without_width_is_rejected(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"input": {"dtype": "float32", "shape": [None, None]}}))
    with pytest.raises(InputError, match=r"input\.shape"):
        payloads.read_schema(manifest)


def _stats(p99: float, error_rate: float = 0.0, ok_rps: float = 50.0) -> Stats:
    n = 1000
    errors = round(error_rate * n)
    records = _records(*[(p99, "200", True)] * (n - errors), *[(1.0, "500", True)] * errors)
    s = _summary(records, offered=ok_rps)
    return s.model_copy(update={"ok_rps": ok_rps, "sustained_rps": ok_rps})


def test_verdict_per_criterion() -> None:
    budget = BudgetUsed(p99_ms=100, max_error_rate=0.01, min_rps=80, source={})
    result, criteria = verdict.judge(_stats(p99=50, ok_rps=50), budget)
    assert result == "FAIL"
    by_name = {c.name: c for c in criteria}
    assert by_name["p99_ms"].passed and by_name["max_error_rate"].passed
    assert not by_name["min_rps"].passed
    assert "run with --rate 80" in by_name["min_rps"].reason  # only 50 req/s were offered
    result, criteria = verdict.judge(_stats(p99=150), budget.model_copy(update={"min_rps": None}))
    assert result == "FAIL" and "exceeds the 100.0 ms budget by 50.0 ms" in criteria[0].reason


def test_no_budget_no_verdict() -> None:
    empty = verdict.resolve_budget(None, verdict.BudgetFlags())
    assert verdict.judge(_stats(p99=10), empty) == (None, [])


def test_flags_override_the_decision_record() -> None:
    record = DecisionRecord(
        mlship_version="0.1.0", pattern="online", budget=Budget(p99_ms=50, min_rps=100)
    )
    budget = verdict.resolve_budget(record, verdict.BudgetFlags(p99_ms=80))
    assert (budget.p99_ms, budget.max_error_rate, budget.min_rps) == (80, 0.001, 100)
    assert budget.source == {
        "p99_ms": "flag",
        "max_error_rate": "default",
        "min_rps": "mlship.yaml",
    }


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _queue_model(knee: float, clock: FakeClock, step_s: float) -> object:
    """A service whose p99 is 20 ms up to ``knee`` req/s and explodes above it."""

    def run_step(rate: float) -> Stats:
        clock.now += step_s + 1.0
        p99 = 20.0 if rate <= knee else 20.0 + (rate - knee) * 100
        return _stats(p99=p99, ok_rps=min(rate, knee))

    return run_step


def test_capacity_search_brackets_the_knee() -> None:
    clock = FakeClock()
    profile = profiles.CapacityProfile(start_rate=10, max_rate=10_000, step_s=3, max_time_s=120)
    budget = BudgetUsed(p99_ms=100, max_error_rate=0.01, min_rps=None, source={})
    found, seen = capacity.search(profile, budget, _queue_model(47, clock, 3), clock)  # type: ignore[arg-type]
    assert found.limited_by == "budget"
    assert found.sustainable_rps is not None and 47 * 0.9 <= found.sustainable_rps <= 47.8
    assert [s.rate for s in found.steps][:4] == [10, 20, 40, 80]
    assert len(seen) == len(found.steps)


def test_capacity_search_stops_at_its_time_limit() -> None:
    clock = FakeClock()
    profile = profiles.CapacityProfile(start_rate=10, max_rate=10_000, step_s=3, max_time_s=13)
    budget = BudgetUsed(p99_ms=100, max_error_rate=0.01, min_rps=None, source={})
    found, _ = capacity.search(profile, budget, _queue_model(1e9, clock, 3), clock)  # type: ignore[arg-type]
    assert found.limited_by == "time"
    assert found.elapsed_s <= 13
    assert [s.rate for s in found.steps] == [10, 20, 40]  # a 4th step would end at 16 s
    assert found.sustainable_rps == 40


def test_capacity_search_with_nothing_sustainable() -> None:
    clock = FakeClock()
    profile = profiles.CapacityProfile(start_rate=10, max_rate=10_000, step_s=3, max_time_s=60)
    budget = BudgetUsed(p99_ms=100, max_error_rate=0.01, min_rps=None, source={})
    found, _ = capacity.search(profile, budget, _queue_model(1, clock, 3), clock)  # type: ignore[arg-type]
    assert found.sustainable_rps is None and len(found.steps) == 1
    result, criteria = verdict.judge(
        _stats(p99=900), budget.model_copy(update={"min_rps": 5}), found
    )
    assert result == "FAIL"
    assert "no rate met the budget" in criteria[-1].reason


@pytest.mark.parametrize(("low", "high"), [(0, 160), (20, 160), (0, 1.08), (0, 0.5), (3, 7)])
def test_chart_ticks_cover_the_data(low: float, high: float) -> None:
    from mlship.spike.charts import nice_ticks

    ticks = nice_ticks(low, high)
    assert ticks[0] <= low and ticks[-1] >= high and len(ticks) <= 8
