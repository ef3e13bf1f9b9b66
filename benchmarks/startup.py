"""CLI start-up: whole processes, against ``python -c pass`` in the same run.

The target (issue 2) is under 0.35 s wall for ``mlship --help`` and for
``mlship recommend --answers F --json`` on a 2-core machine, which is only reachable
when the CLI imports no heavy library (locust, copier, numpy) at start.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 0.35
REPEATS = 15

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "mlship --help": [sys.executable, "-m", "mlship", "--help"],
    "mlship recommend --json": [
        sys.executable,
        "-m",
        "mlship",
        "recommend",
        "--answers",
        str(ROOT / "examples" / "checkout-fraud.yaml"),
        "--json",
    ],
}


def _wall(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> dict[str, object]:
    samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for command in COMMANDS.values():
        _wall(command)  # warm the file-system cache once
    for _ in range(REPEATS):  # interleaved, so that noise hits every command alike
        for name, command in COMMANDS.items():
            samples[name].append(_wall(command))
    baseline = statistics.median(samples["python -c pass"])
    rows = []
    ok = True
    for name, values in samples.items():
        median = statistics.median(values)
        within = name == "python -c pass" or median < TARGET_S
        ok = ok and within
        rows.append(
            {
                "command": name,
                "median_s": round(median, 4),
                "min_s": round(min(values), 4),
                "ratio_to_python": round(median / baseline, 2),
                "within_target": within,
            }
        )
        print(
            f"{name:28s} median {median * 1000:7.1f} ms  min {min(values) * 1000:7.1f} ms  "
            f"x{median / baseline:5.2f} of python -c pass  {'ok' if within else 'OVER TARGET'}"
        )
    return {"benchmark": "startup", "target_s": TARGET_S, "rows": rows, "ok": ok}


def table(result: dict[str, Any]) -> str:
    """Median wall time of whole processes, and the ratio to ``python -c pass``."""
    lines = [
        "| command | median | min | x python -c pass | within the target |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in result["rows"]:
        within = (
            "-" if row["command"] == "python -c pass" else ("yes" if row["within_target"] else "no")
        )
        lines.append(
            f"| `{row['command']}` | {row['median_s'] * 1000:.0f} ms "
            f"| {row['min_s'] * 1000:.0f} ms | {row['ratio_to_python']:.2f}x | {within} |"
        )
    lines.append("")
    lines.append(f"Target: under {result['target_s'] * 1000:.0f} ms wall per command.")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
