"""Run benchmarks: ``python -m benchmarks [NAME ...]`` (``nox -s bench -- NAME``).

Without names every benchmark runs. Results are printed and written as JSON under
``.bench/`` so runs can be compared.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

BENCHMARKS = {
    "startup": "benchmarks.startup",
    "new": "benchmarks.new_project",
    "online": "benchmarks.online_service",
    "spike": "benchmarks.spike_throughput",
    "batch": "benchmarks.batch_job",
    "streaming": "benchmarks.streaming_consumer",
    "edge": "benchmarks.edge_export",
    "chained": "benchmarks.chained_pipeline",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run: {', '.join(BENCHMARKS)}")
    parser.add_argument("--out", type=Path, default=Path(".bench"), help="folder for results")
    args = parser.parse_args(argv)
    names = args.names or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    failures = 0
    for name in names:
        module = importlib.import_module(BENCHMARKS[name])
        print(f"== {name}", flush=True)
        result = module.main()
        stamp = time.strftime("%Y%m%dT%H%M%S")
        (args.out / f"{name}-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
        failures += 0 if result.get("ok", True) else 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
