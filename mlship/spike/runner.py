"""Drive one load run: locust in a subprocess, watched from here, bounded in time.

Locust monkey-patches the process that imports it, so it never runs in the CLI's
process: this module starts ``python -m locust`` on :mod:`mlship.spike.locustfile`,
follows the raw records it writes (for the live view), stops it once the schedule is
done or the time is up, and returns every record.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mlship.errors import ToolError
from mlship.spike.interrupts import shielded
from mlship.spike.payloads import Payloads
from mlship.spike.profiles import ClientSettings
from mlship.spike.records import DONE_GLOB, Record, RecordReader, read_all
from mlship.spike.stats import LiveStats
from mlship.spike.target import free_port, log_tail

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
STARTUP_GRACE_S = 45.0  # importing locust and forking workers on a busy 2-core machine
STOP_GRACE_S = 15.0
POLL_S = 0.25

Progress = Callable[[dict[str, Any]], None]


class LoadInterrupted(Exception):
    """Ctrl-C ended a load run early; ``records`` holds what was measured until then."""

    def __init__(self, records: list[Record]) -> None:
        super().__init__("interrupted")
        self.records = records


@dataclass(frozen=True)
class LoadRun:
    """One run of one shape: the open model at ``rate`` or ``users`` closed-model users."""

    base_url: str
    path: str
    mode: Literal["open", "closed"]
    duration_s: float
    client: ClientSettings
    invalid_share: float
    rate: float | None = None
    arrivals: str = "uniform"
    users: int | None = None
    spawn_rate: float | None = None


def _command(run: LoadRun) -> list[str]:
    workers = run.client.workers
    if run.mode == "open":
        users, spawn = workers, float(workers)
        # locust's own limit is only a backstop: the parent stops it when the schedule is done
        run_time = run.duration_s + run.client.timeout_s + STARTUP_GRACE_S
    else:
        users, spawn = run.users or 1, run.spawn_rate or float(run.users or 1)
        run_time = run.duration_s
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        run.base_url,
        "--users",
        str(users),
        "--spawn-rate",
        f"{spawn:g}",
        "--run-time",
        f"{max(1, round(run_time))}s",
        "--stop-timeout",
        str(max(1, math.ceil(run.client.timeout_s))),
        "--loglevel",
        "WARNING",
        "--only-summary",
        "--exit-code-on-error",
        "0",
    ]
    if workers > 1:
        port = str(free_port())
        command += [
            "--processes",
            str(workers),
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            port,
            "--master-host",
            "127.0.0.1",
            "--master-port",
            port,
        ]
    return command


def _write_inputs(run: LoadRun, payloads: Payloads, work: Path) -> Path:
    raw = work / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    (work / "valid.ndjson").write_text("".join(b + "\n" for b in payloads.valid), "utf-8")
    (work / "invalid.ndjson").write_text("".join(b + "\n" for b in payloads.invalid), "utf-8")
    config = {
        "mode": run.mode,
        "path": run.path,
        "duration_s": run.duration_s,
        "rate_per_user": (run.rate or 0.0) / run.client.workers,
        "arrivals": run.arrivals,
        "timeout_s": run.client.timeout_s,
        "max_outstanding": max(1, run.client.max_outstanding // run.client.workers),
        "late_threshold_ms": run.client.late_threshold_ms,
        "invalid_share": run.invalid_share if payloads.invalid else 0.0,
        "raw_dir": str(raw),
        "valid_file": str(work / "valid.ndjson"),
        "invalid_file": str(work / "invalid.ndjson"),
    }
    path = work / "config.json"
    path.write_text(json.dumps(config, indent=2), "utf-8")
    return path


def run_load(
    run: LoadRun, payloads: Payloads, work: Path, progress: Progress | None = None
) -> list[Record]:
    """Run locust once and return the raw records; the run always ends by itself."""
    config = _write_inputs(run, payloads, work)
    raw = work / "raw"
    log_path = work / "locust.log"
    env = {**os.environ, "MLSHIP_SPIKE_CONFIG": str(config), "PYTHONUNBUFFERED": "1"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            _command(run),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    interrupted = False
    try:
        _watch(run, process, raw, progress)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        with shielded():
            _stop(process)
    records = read_all(raw)
    if interrupted:
        raise LoadInterrupted(records)
    if not records:
        raise ToolError(
            f"the load generator recorded no request (locust exit code {process.returncode})\n"
            f"locust log ({log_path}, last lines):\n{log_tail(log_path)}"
        )
    return records


def _watch(
    run: LoadRun, process: subprocess.Popen[bytes], raw: Path, progress: Progress | None
) -> None:
    started = time.monotonic()
    deadline = started + STARTUP_GRACE_S + run.duration_s + run.client.timeout_s + STOP_GRACE_S
    reader = RecordReader(raw)
    live = LiveStats()
    expected_done = run.client.workers
    while True:
        time.sleep(POLL_S)
        live.add(reader.read_new())
        if progress is not None:
            snapshot: dict[str, Any] = live.snapshot(time.time())
            first = live.first
            snapshot["elapsed"] = max(0.0, time.time() - first) if first else 0.0
            snapshot["duration"] = run.duration_s
            progress(snapshot)
        if process.poll() is not None:
            return
        if run.mode == "open" and len(list(raw.glob(DONE_GLOB))) >= expected_done:
            return
        if time.monotonic() > deadline:
            return


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Ask locust to quit (it flushes on the way out), then make sure its group is gone."""
    if process.poll() is None:
        try:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            pass
        except ProcessLookupError:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    except PermissionError:
        pass
    if process.poll() is None:
        process.wait(timeout=5)
