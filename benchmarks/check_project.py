"""``mlship check`` on a generated project: in process and as a whole CLI call.

The target (issue 14) is "well under a second" for a project: this measures the online
project as `mlship new` makes it (git history and the pristine branch included) with a
5 MiB model artifact and its manifest (so the sha256 rule has bytes to hash), against
``mlship --version`` (the CLI's own start) and ``git status`` in the same run.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 1.0
REPEATS = 15
ARTIFACT_BYTES = 5 * 1024 * 1024


def _project(root: Path) -> Path:
    project = root / "bench-check"
    subprocess.run(
        [sys.executable, "-m", "mlship", "new", "online", str(project), "--defaults"],
        check=True,
        capture_output=True,
    )
    artifact = os.urandom(ARTIFACT_BYTES)
    (project / "models" / "model.onnx").write_bytes(artifact)
    manifest = {
        "name": "bench",
        "version": "1",
        "framework": "onnx",
        "file": "model.onnx",
        "sha256": hashlib.sha256(artifact).hexdigest(),
        "created": "2026-01-01T00:00:00+00:00",
    }
    (project / "models" / "manifest.json").write_text(json.dumps(manifest))
    return project


def _wall(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        command, cwd=cwd, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return time.perf_counter() - start


def main() -> dict[str, object]:
    from mlship.lifecycle.check import check_project

    with tempfile.TemporaryDirectory(prefix="mlship-bench-check-") as tmp:
        project = _project(Path(tmp))
        commands = {
            "git status": ["git", "status", "--porcelain"],
            "mlship --version": [sys.executable, "-m", "mlship", "--version"],
            "mlship check --json": [sys.executable, "-m", "mlship", "check", "--json"],
        }
        samples: dict[str, list[float]] = {name: [] for name in commands}
        samples["check_project() in process"] = []
        findings = check_project(project)  # warm caches once
        for _ in range(REPEATS):  # interleaved, so that noise hits every command alike
            for name, command in commands.items():
                samples[name].append(_wall(command, project))
            start = time.perf_counter()
            check_project(project)
            samples["check_project() in process"].append(time.perf_counter() - start)
    baseline = statistics.median(samples["mlship --version"])
    rows = []
    for name, values in samples.items():
        median = statistics.median(values)
        rows.append(
            {
                "command": name,
                "median_s": round(median, 4),
                "max_s": round(max(values), 4),
                "ratio_to_mlship_version": round(median / baseline, 2),
            }
        )
        print(
            f"{name:30s} median {median * 1000:7.1f} ms  max {max(values) * 1000:7.1f} ms  "
            f"x{median / baseline:5.2f} of mlship --version"
        )
    cli = statistics.median(samples["mlship check --json"])
    return {
        "benchmark": "check",
        "target_s": TARGET_S,
        "rows": rows,
        "rules": len(findings.rules),
        "findings": len(findings.findings),
        "artifact_mib": ARTIFACT_BYTES / 2**20,
        "ok": cli < TARGET_S,
    }


def table(result: dict[str, object]) -> str:
    rows = result["rows"]
    assert isinstance(rows, list)
    lines = ["| command | median | max | x `mlship --version` |", "| --- | ---: | ---: | ---: |"]
    for row in rows:
        lines.append(
            f"| {row['command']} | {row['median_s'] * 1000:.0f} ms | "
            f"{row['max_s'] * 1000:.0f} ms | {row['ratio_to_mlship_version']:.2f} |"
        )
    lines.append("")
    lines.append(
        f"{result['rules']} rules on an online project with a "
        f"{result['artifact_mib']:g} MiB model; target: `mlship check` under "
        f"{result['target_s']:g} s."
    )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
