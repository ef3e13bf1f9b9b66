"""Run benchmarks: ``python -m benchmarks [NAME ...]`` (``nox -s bench -- NAME``).

Without names every benchmark runs. Each module's ``main()`` returns its figures (ratios
against a baseline measured in the same run); they are written, with the machine and its
load, to ``benchmarks/results/<name>.json`` (committed: the docs quote them through
``python -m benchmarks.docs``) and a timestamped copy under ``.bench/``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from pathlib import Path

from benchmarks.harness import CACHE, ROOT, machine, save_result

BENCHMARKS = {
    "startup": "benchmarks.startup",
    "new": "benchmarks.new_project",
    "online": "benchmarks.online_service",
    "request_path": "benchmarks.request_path",
    "overload": "benchmarks.overload",
    "model_import": "benchmarks.model_import",
    "spike": "benchmarks.spike_throughput",
    "batch": "benchmarks.batch_job",
    "streaming": "benchmarks.streaming_consumer",
    "edge": "benchmarks.edge_export",
    "chained": "benchmarks.chained_pipeline",
    "check": "benchmarks.check_project",
    "images": "benchmarks.images",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run: {', '.join(BENCHMARKS)}")
    parser.add_argument("--out", type=Path, default=CACHE / "runs", help="folder for copies")
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
        before = machine()
        try:
            result = module.main()
        except Exception:  # one broken benchmark must not cost the others their run
            traceback.print_exc()
            print(f"   !! {name} failed: no result written", flush=True)
            failures += 1
            continue
        saved = save_result(name, result, before)
        stamp = time.strftime("%Y%m%dT%H%M%S")
        (args.out / f"{name}-{stamp}.json").write_text(saved.read_text())
        print(f"   -> {saved.relative_to(ROOT)}", flush=True)
        failures += 0 if result.get("ok", True) else 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
