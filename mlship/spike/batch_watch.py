"""What spike sees of a batch job while it runs: the parts it commits, and its manifest.

The job commits each part with a marker (``_parts/<part>.json``) once its output is whole;
spike polls those markers for the rows done over time, and reads the job's ``run.json``
at the end (or, when Ctrl-C stopped the job, what its committed parts say).
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlship.spike.memory import MemorySampler
from mlship.spike.result import BatchPart, BatchSecond
from mlship.spike.runs import Progress

POLL_S = 0.25


@dataclass
class Watched:
    """What spike saw while the job ran."""

    started: float
    ended: float
    exit_code: int | None
    done_at: dict[str, float]
    rows_at: list[tuple[float, int]]
    interrupted: bool


def markers(output: Path) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for marker in sorted((output / "_parts").glob("*.json")):
        try:
            found[marker.stem] = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # being written; read on the next poll
    return found


def watch(
    process: subprocess.Popen[bytes],
    time_limit_s: float,
    sampler: MemorySampler,
    output: Path,
    progress: Progress | None,
) -> Watched:
    started = time.time()
    deadline = time.monotonic() + time_limit_s
    done_at: dict[str, float] = {}
    rows_at: list[tuple[float, int]] = []
    watched = Watched(started, started, None, done_at, rows_at, False)
    try:
        while process.poll() is None:
            if time.monotonic() > deadline:
                break
            time.sleep(POLL_S)
            now = time.time()
            rows_done = collect(output, watched, now)
            if progress is not None:
                elapsed = now - started
                memory = sampler.peak_mb
                progress(
                    {
                        "line": f"batch job  {elapsed:5.1f} s  parts done {len(done_at)}  "
                        f"rows {rows_done:,}  "
                        f"peak memory {'-' if memory is None else f'{memory:.0f} MiB'}"
                    }
                )
    except KeyboardInterrupt:
        watched.interrupted = True
    watched.ended = time.time()
    watched.exit_code = process.poll()
    return watched


def collect(output: Path, watched: Watched, now: float) -> int:
    """Note the parts committed since the last look; returns the rows done so far."""
    rows_done = watched.rows_at[-1][1] if watched.rows_at else 0
    for name, marker in markers(output).items():
        if name not in watched.done_at:
            watched.done_at[name] = now - watched.started
            rows_done += int(marker.get("records", 0))
            watched.rows_at.append((now - watched.started, rows_done))
    return rows_done


def parts(run: dict[str, Any], watched: Watched) -> list[BatchPart]:
    parts = []
    for entry in run.get("parts", {}).get("files", []):
        seconds = float(entry.get("seconds") or 0.0)
        records = int(entry.get("records") or 0)
        parts.append(
            BatchPart(
                name=str(entry.get("name")),
                records=records,
                rejected=int(entry.get("rejected") or 0),
                seconds=round(seconds, 3),
                rows_per_s=round(records / seconds, 1) if seconds > 0 else 0.0,
                done_at_s=round(watched.done_at[entry["name"]], 3)
                if entry.get("name") in watched.done_at
                else None,
            )
        )
    return parts


def timeseries(watched: Watched, sampler: MemorySampler) -> list[BatchSecond]:
    """Rows done and memory, second by second since the job started."""
    last = max(0, int(watched.ended - watched.started))
    series = []
    previous = 0
    for second in range(last + 1):
        done = max([rows for t, rows in watched.rows_at if t < second + 1], default=0)
        memory = [mb for t, mb in sampler.samples if second <= t - watched.started < second + 1]
        series.append(
            BatchSecond(
                t=second,
                rows_done=done,
                rows_per_s=float(done - previous),
                memory_mb=round(max(memory), 1) if memory else None,
            )
        )
        previous = done
    return series


def run_document(output: Path, watched: Watched) -> dict[str, Any] | None:
    """The job's run manifest; for an interrupted job, what its committed parts say."""
    path = output / "run.json"
    if path.is_file():
        try:
            document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            document = {}
        if "counts" in document or not watched.interrupted:
            return document or None
    if not watched.interrupted:
        return None
    committed = markers(output)
    records = sum(int(m.get("records", 0)) for m in committed.values())
    rejected = sum(int(m.get("rejected", 0)) for m in committed.values())
    seconds = watched.ended - watched.started
    (output / "run.json").parent.mkdir(parents=True, exist_ok=True)
    partial = {
        "status": "interrupted",
        "counts": {
            "input": records,
            "scored": records - rejected,
            "rejected": rejected,
            "reject_rate": rejected / records if records else 0.0,
        },
        "duration_s": seconds,
        "rows_per_s": records / seconds if seconds > 0 else 0.0,
        "parts": {"files": [{**m, "name": name} for name, m in committed.items()]},
    }
    (output / "run.json").write_text(json.dumps(partial), encoding="utf-8")
    return partial
