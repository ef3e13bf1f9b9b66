"""The generated batch job against a naive baseline, on 100k and 1M NDJSON records.

Both score the same files with the same ONNX model (the project's demo logistic
regression, 30 features). The baseline (``benchmarks/naive_batch.py``) reads line by line
with ``json.loads``, scores batches of 256, keeps every prediction in a Python list and
writes one Parquet file with pandas at the end. The generated job runs as a user runs it
(``python -m <package>.batch run``, local engine, default settings: one process per
core). Rows/s is records over the wall time of the whole command, start-up included; peak
RSS is the largest sum of the resident memory of the command's process group, sampled
every 20 ms from /proc.

Targets (issue 5): at 1M rows, at least 4x the baseline's rows/s, and the generated job's
peak RSS at 1M rows at most 1.2x its peak at 100k rows.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "bench_batch"
SIZES = tuple(int(n) for n in os.environ.get("BENCH_BATCH_ROWS", "100000,1000000").split(","))
TARGET_SPEEDUP = 4.0
TARGET_RSS_GROWTH = 1.2
PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")
RUN_TIMEOUT_S = 1800
PANDAS = "3.1.1"


def _group_usage(pgid: int, cpu: dict[int, float]) -> int:
    """Resident bytes of the process group now; records each member's CPU seconds so far."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:  # fields after the name: state, ppid, pgrp, ...
                cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / TICKS
                with open(f"/proc/{entry}/statm", encoding="ascii") as handle:
                    total += int(handle.read().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total


def measure(command: list[str], cwd: Path, env: dict[str, str]) -> dict[str, float]:
    """Wall time, peak RSS and CPU seconds of the command's whole process group.

    CPU is summed over every process seen, from its last 20 ms sample: a figure that other
    load on the machine does not inflate, unlike wall time."""
    peak = 0
    cpu: dict[int, float] = {}
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.02):
            peak = max(peak, _group_usage(process.pid, cpu))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        _, err = process.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        done.set()
        sampler.join()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {process.returncode}:\n{err[-3000:]!r}")
    return {
        "seconds": round(seconds, 2),
        "cpu_s": round(sum(cpu.values()), 2),
        "peak_rss_mb": round(peak / 2**20, 1),
    }


def _prepare(work: Path) -> tuple[Path, Path]:
    dest = work / "bench-batch"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "mlship",
            "new",
            "batch",
            str(dest),
            "--defaults",
            "--no-git",
            "--name",
            "bench-batch",
        ],
        check=True,
        capture_output=True,
    )
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = venv / "bin" / "python"
    # the job's own pinned dependencies, plus pandas for the baseline
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "-e", str(dest), f"pandas=={PANDAS}"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [str(python), "-m", f"{PACKAGE}.demo_model", "--format", "onnx"],
        cwd=dest,
        check=True,
        capture_output=True,
    )
    return dest, python


def _count_and_labels(python: Path, path: Path) -> tuple[int, int]:
    code = (
        "import sys, pyarrow.parquet as pq, pyarrow.compute as pc; "
        "t = pq.read_table(sys.argv[1], columns=['label']); "
        "print(t.num_rows, pc.sum(t.column('label')).as_py())"
    )
    out = subprocess.run(
        [str(python), "-c", code, str(path)], check=True, capture_output=True, text=True
    ).stdout.split()
    return int(out[0]), int(out[1])


def main() -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="mlship-bench-batch-"))
    try:
        dest, python = _prepare(work)
        env = {k: v for k, v in os.environ.items() if not k.startswith("APP_")}
        env.update(APP_PROGRESS="off", APP_LOG_LEVEL="WARNING", PYTHONDONTWRITEBYTECODE="1")
        results: dict[str, dict[str, object]] = {}
        for rows in SIZES:
            source = work / f"input-{rows}.ndjson"
            subprocess.run(
                [
                    str(python),
                    "-m",
                    f"{PACKAGE}.batch",
                    "sample",
                    "--rows",
                    str(rows),
                    "--path",
                    str(source),
                ],
                cwd=dest,
                env=env,
                check=True,
                capture_output=True,
            )
            naive_out = work / f"naive-{rows}.parquet"
            naive = measure(
                [
                    str(python),
                    str(ROOT / "benchmarks" / "naive_batch.py"),
                    str(source),
                    str(dest / "models"),
                    str(naive_out),
                ],
                dest,
                env,
            )
            job_out = work / f"job-{rows}"
            job = measure(
                [
                    str(python),
                    "-m",
                    f"{PACKAGE}.batch",
                    "run",
                    "--input",
                    str(source),
                    "--output",
                    str(job_out),
                ],
                dest,
                env,
            )
            naive_rows, naive_labels = _count_and_labels(python, naive_out)
            job_rows, job_labels = _count_and_labels(python, job_out / "predictions")
            entry: dict[str, object] = {
                "input_mb": round(source.stat().st_size / 2**20, 1),
                "naive": {**naive, "rows_per_s": round(rows / naive["seconds"])},
                "job": {**job, "rows_per_s": round(rows / job["seconds"])},
                "speedup": round(naive["seconds"] / job["seconds"], 2),
                "cpu_ratio": round(naive["cpu_s"] / job["cpu_s"], 2),
                "same_predictions": naive_rows == job_rows == rows and naive_labels == job_labels,
            }
            results[str(rows)] = entry
            print(json.dumps({str(rows): entry}), flush=True)
            source.unlink()
            shutil.rmtree(job_out)
            naive_out.unlink()
        small, large = str(min(SIZES)), str(max(SIZES))
        speedup = float(results[large]["speedup"])  # type: ignore[arg-type]
        growth = round(
            results[large]["job"]["peak_rss_mb"]  # type: ignore[index]
            / results[small]["job"]["peak_rss_mb"],  # type: ignore[index]
            3,
        )
        ok = (
            speedup >= TARGET_SPEEDUP
            and growth <= TARGET_RSS_GROWTH
            and all(r["same_predictions"] for r in results.values())
        )
        summary: dict[str, object] = {
            "cores": len(os.sched_getaffinity(0)),
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "sizes": results,
            "speedup_at_largest": speedup,
            "job_rss_growth": growth,
            "targets": {"speedup": TARGET_SPEEDUP, "rss_growth": TARGET_RSS_GROWTH},
            "ok": ok,
        }
        print(json.dumps(summary, indent=2))
        print(f"load average at the end: {os.getloadavg()}", flush=True)
        return summary
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(0 if main()["ok"] else 1)
