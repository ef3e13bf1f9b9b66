"""The files a spike leaves in its run folder: raw latencies, logs, JSON, Markdown, HTML."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from mlship.spike import report, report_html
from mlship.spike.records import merge_into
from mlship.spike.result import SpikeResult


def new_run_dir(base: Path) -> tuple[Path, str]:
    """A fresh ``<base>/<UTC timestamp>`` folder (suffixed if two runs start in one second)."""
    now = datetime.now(UTC)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    folder = base / stamp
    n = 1
    while folder.exists():
        n += 1
        folder = base / f"{stamp}-{n}"
    folder.mkdir(parents=True)
    return folder, now.isoformat(timespec="seconds")


def save_raw(folders: list[Path], run_dir: Path) -> dict[str, str]:
    """Merge each load run's per-process records into one CSV; keep the generator's log."""
    artifacts: dict[str, str] = {"dir": str(run_dir)}
    for i, folder in enumerate(folders):
        suffix = "" if len(folders) == 1 else f"-step-{i + 1:02d}"
        raw = run_dir / f"latencies{suffix}.csv"
        merge_into(folder / "raw", raw)
        if (folder / "locust.log").is_file():
            shutil.copyfile(folder / "locust.log", run_dir / f"locust{suffix}.log")
        artifacts["raw" if len(folders) == 1 else f"raw{suffix}"] = str(raw)
    if (run_dir / "service.log").is_file():
        artifacts["service_log"] = str(run_dir / "service.log")
    return artifacts


def save(result: SpikeResult, run_dir: Path) -> SpikeResult:
    """Write result.json, summary.md and report.html next to the raw latencies."""
    files = {
        "json": run_dir / "result.json",
        "markdown": run_dir / "summary.md",
        "html": run_dir / "report.html",
    }
    artifacts = {**result.artifacts, **{k: str(v) for k, v in files.items()}}
    result = result.model_copy(update={"artifacts": artifacts})
    files["json"].write_text(result.model_dump_json(indent=2) + "\n", encoding="utf-8")
    files["markdown"].write_text(report.markdown(result), encoding="utf-8")
    files["html"].write_text(report_html.html(result), encoding="utf-8")
    return result
