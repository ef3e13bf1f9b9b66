"""``python -m <package>.streaming.spike``: load the running consumer, judge it, report.

Exit codes: 0 every event got a prediction within the p99 budget and the group caught up;
1 it did not (the reasons are printed); 2 bad arguments; 3 the spike could not run (no
broker, no topic, no prediction for the warm-up event: is the consumer running?);
130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from ...inference.errors import InferenceError
from ...inference.manifest import load_manifest
from ...logs import configure_logging
from ..settings import StreamingSettings
from .load import Reader, Sender, SpikeError, lag_at_end, schedule
from .stats import Observed, summarise

SCHEMA_VERSION = 1
MAX_EVENTS = 10_000_000
LAG_SETTLE_S = 3.0  # offsets are committed just after the last acknowledgement


def run_spike(
    settings: StreamingSettings,
    *,
    events: int,
    rate: float,
    arrivals: str = "uniform",
    timeout_s: float = 60.0,
    budget_p99_ms: float,
    late_threshold_ms: float = 20.0,
    records: Path | None = None,
) -> dict[str, Any]:
    """Warm up, send ``events`` at ``rate``, wait for their predictions, summarise."""
    try:
        width = load_manifest(settings.models_dir).input.n_features
    except InferenceError as error:
        raise SpikeError(f"no model to build events for: {error}") from None
    rows = np.random.default_rng(0).normal(size=(min(events, 1000), width)).round(4)
    payloads = [json.dumps(row).encode() for row in rows.tolist()]
    prefix = f"spike-{uuid.uuid4().hex[:8]}-".encode()
    sender = Sender(settings, payloads, prefix)
    reader = Reader(settings, prefix, events)
    try:
        reader.assign_at_end(timeout_s)
    except SpikeError:
        reader.consumer.close()
        raise
    reader.start()
    try:
        sender.warm_up(prefix + b"warmup", timeout_s)
        if not reader.warmed.wait(timeout_s):
            raise SpikeError(
                f"no prediction for a warm-up event within {timeout_s:g} s: is the consumer "
                f"running (make run) with group {settings.group_id} on {settings.input_topic}?"
            )
        due_s = schedule(events, rate, arrivals)
        reader.clock_start = clock_start = time.perf_counter()
        wall_start = time.time()
        sent_s = sender.run(due_s, clock_start, wall_start)
        sender.flush(timeout_s)
        deadline = time.monotonic() + timeout_s
        while reader.received() < events and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        reader.stop_event.set()
        reader.join(30)
    lag = lag_at_end(settings, sender.last_offsets, timeout_s)
    settle = time.monotonic() + LAG_SETTLE_S
    while lag and time.monotonic() < settle:
        time.sleep(0.2)
        lag = lag_at_end(settings, sender.last_offsets, timeout_s)
    observed = Observed(due_s, sent_s, reader.arrived_s, reader.copies, reader.dead)
    if records is not None:
        write_records(records, observed, wall_start, late_threshold_ms)
    summary = summarise(
        observed,
        rate=rate,
        late_threshold_ms=late_threshold_ms,
        budget_p99_ms=budget_p99_ms,
        lag_at_end=lag,
    )
    return {
        "schema_version": SCHEMA_VERSION,
        "input_topic": settings.input_topic,
        "output_topic": settings.output_topic,
        "group_id": settings.group_id,
        "arrivals": arrivals,
        **summary,
    }


def write_records(path: Path, observed: Observed, wall_start: float, late_ms: float) -> None:
    """One line per event, ``t,latency_ms,outcome,valid,late`` as ``mlship spike`` writes:
    t the scheduled time (epoch s), outcome ``ok``, ``dlq`` or ``missing``."""
    latency = (observed.arrived_s - observed.due_s) * 1000.0
    late = (observed.sent_s - observed.due_s) * 1000.0 > late_ms
    lines = ["t,latency_ms,outcome,valid,late"]
    for i, due in enumerate(observed.due_s.tolist()):
        got = not np.isnan(latency[i])
        outcome = "ok" if got else ("dlq" if observed.dead[i] else "missing")
        shown = f"{latency[i]:.3f}" if got else ""
        lines.append(f"{wall_start + due:.6f},{shown},{outcome},1,{int(late[i])}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def positive(kind: type[float] | type[int]) -> Any:
    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not value > 0 or value != value:  # refuses 0, negatives and nan
            raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
        return value

    return parse


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m <package>.streaming.spike",
        description="Open-model load test of the running consumer through the broker",
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--events", type=positive(int), help="events to send (default 10000)")
    size.add_argument("--duration", type=positive(float), help="seconds of sending instead")
    parser.add_argument("--rate", type=positive(float), default=1000.0, help="events per second")
    parser.add_argument("--arrivals", choices=["uniform", "poisson"], default="uniform")
    parser.add_argument("--p99-ms", type=positive(float), help="default: APP_LATENCY_BUDGET_MS")
    parser.add_argument("--late-threshold-ms", type=positive(float), default=20.0)
    parser.add_argument("--timeout", type=positive(float), default=60.0, help="seconds per wait")
    parser.add_argument("--bootstrap-servers", help="overrides APP_BOOTSTRAP_SERVERS")
    parser.add_argument("--group-id", help="the consumer's group, for the lag at the end")
    parser.add_argument("--records", type=Path, help="write one CSV line per event here")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    if args.duration is not None:
        args.events = max(1, round(args.duration * args.rate))
    elif args.events is None:
        args.events = 10_000
    if args.events > MAX_EVENTS:
        parser.error(f"at most {MAX_EVENTS} events per spike, got {args.events}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    given = {"bootstrap_servers": args.bootstrap_servers, "group_id": args.group_id}
    overrides = {k: v for k, v in given.items() if v is not None}
    try:
        settings = StreamingSettings(**overrides)
    except ValidationError as error:
        print(f"spike: invalid settings: {error}", file=sys.stderr)
        return 2
    configure_logging("WARNING", json_logs=False)
    budget = args.p99_ms or settings.latency_budget_ms
    try:
        result = run_spike(
            settings,
            events=args.events,
            rate=args.rate,
            arrivals=args.arrivals,
            timeout_s=args.timeout,
            budget_p99_ms=budget,
            late_threshold_ms=args.late_threshold_ms,
            records=args.records,
        )
    except SpikeError as error:
        print(f"spike: {error}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("spike: interrupted", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(result))
    else:
        print(render(result))
    return 0 if result["ok"] else 1


def render(result: dict[str, Any]) -> str:
    latency, schedule_ = result["latency_ms"], result["schedule"]
    lines = [
        f"events      {result['events']} at {schedule_['offered_rps']:g}/s "
        f"({schedule_['late']} sent late, > {schedule_['late_threshold_ms']:g} ms)",
        f"predictions {result['received']} received, {result['missing']} missing, "
        f"{result['duplicates']} duplicates, {result['dead_lettered']} dead-lettered",
        f"throughput  {result['throughput']}/s (middle 80% of the run)",
        "latency     " + ", ".join(f"{k} {latency[k]} ms" for k in ("p50", "p90", "p99", "max")),
        f"lag at end  {result['lag_at_end']}",
        f"verdict     {'PASS' if result['ok'] else 'FAIL'} against p99 "
        f"{result['budget_p99_ms']:g} ms",
    ]
    lines += [f"  - {reason}" for reason in result["reasons"]]
    lines += [f"  ! {warning}" for warning in result["warnings"]]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
