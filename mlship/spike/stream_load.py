"""One run of a streaming project's own load generator, read back as mlship's records.

``python -m <package>.streaming.spike`` sends events on a fixed schedule, times each from
its scheduled send time to its prediction, and writes one record per event in the format
of :mod:`mlship.spike.records` plus a JSON summary (dead letters, lag at the end). spike
computes every figure from the records, exactly as for requests.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlship.errors import ToolError
from mlship.spike import processes, stats
from mlship.spike.interrupts import shielded
from mlship.spike.records import HEADER, Record, parse_line
from mlship.spike.result import Stats
from mlship.spike.runs import Progress
from mlship.spike.stream_services import Consumer, StreamProject

LOAD_EXIT_MEASURED = (0, 1)  # the generator's exit codes with a result: within budget or not


@dataclass(frozen=True)
class Limits:
    """What every run of the generator shares: the p99 it reports against, lateness, waits."""

    p99_ms: float
    late_threshold_ms: float
    wait_s: float


@dataclass
class Run:
    """One run of the project's load generator: its figures and its JSON report."""

    stats: Stats
    report: dict[str, Any]
    records: Path
    rate: float = 0.0


def run_load(
    sp: StreamProject,
    env: dict[str, str],
    rate: float,
    duration_s: float,
    arrivals: str,
    limits: Limits,
    work: Path,
    consumer: Consumer,
    progress: Progress | None,
) -> Run:
    """Run the project's generator once: ``rate`` events/s for ``duration_s``, judged later."""
    work.mkdir(parents=True, exist_ok=True)
    records = work / "events.csv"
    log = work / "load.log"
    command = [
        sp.interpreter.python,
        "-m",
        f"{sp.package}.streaming.spike",
        "--json",
        "--duration",
        f"{duration_s:g}",
        "--rate",
        f"{rate:g}",
        "--arrivals",
        arrivals,
        "--p99-ms",
        f"{limits.p99_ms:g}",
        "--late-threshold-ms",
        f"{limits.late_threshold_ms:g}",
        "--timeout",
        f"{limits.wait_s:g}",
        "--records",
        str(records),
    ]
    with log.open("ab") as handle:
        handle.write(f"$ {shlex.join(command)}\n".encode())
    out = work / "load.json"
    with out.open("wb") as stdout, log.open("ab") as stderr:
        process = subprocess.Popen(
            command,
            cwd=sp.path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
    limit = duration_s + 4 * limits.wait_s + 60.0
    started = time.monotonic()
    try:
        while process.poll() is None:
            if time.monotonic() - started > limit:
                raise processes.failure(
                    f"the load generator did not finish within {limit:g} s",
                    log,
                    command,
                    sp.path,
                )
            consumer.alive()
            if progress is not None:
                elapsed = time.monotonic() - started
                gone = "" if consumer.stopped_at is None else "  (the consumer has exited)"
                progress(
                    {
                        "line": f"{elapsed:5.1f} s: {rate:g} events/s for {duration_s:g} s "
                        f"through the broker{gone}"
                    }
                )
            time.sleep(0.25)
    except KeyboardInterrupt:
        with shielded():
            processes.stop(process)
        raise
    finally:
        with shielded():
            processes.stop(process)
    consumer.alive()
    code = process.returncode
    if code not in LOAD_EXIT_MEASURED:
        raise processes.failure(
            f"the project's load generator failed (exit {code})", log, command, sp.path
        )
    try:
        report: dict[str, Any] = json.loads(
            out.read_text(encoding="utf-8").strip().splitlines()[-1]
        )
        lines = records.read_text(encoding="utf-8").splitlines()
    except (OSError, ValueError, IndexError):
        raise processes.failure(
            "the load generator left no JSON result or no records", log, command, sp.path
        ) from None
    if not lines or lines[0] != HEADER:
        raise ToolError(f"{records}: not a records file (header {HEADER!r} expected)")
    found: list[Record] = [r for r in map(parse_line, lines[1:]) if r is not None]
    if not found:
        raise ToolError(f"{records}: the load generator recorded no event")
    figures = stats.summarize(
        found,
        offered_rps=rate,
        late_threshold_ms=limits.late_threshold_ms,
        max_outstanding=0,
        invalid_share=0.0,
    )
    return Run(figures, report, records, rate)
