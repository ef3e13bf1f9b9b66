"""Command line of the batch job.

    python -m <package>.batch run --input data/sample.ndjson --output output
    python -m <package>.batch sample --rows 10000 --format csv --path data/sample.csv

Exit codes: 0 done, 1 failed, 2 bad options or input, 3 reject rate above the limit,
4 counts that do not reconcile.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..inference import InferenceError, load_manifest
from ..logs import configure_logging
from .errors import JobConfigError, JobError
from .settings import BatchSettings

log = logging.getLogger(__name__)

# option -> settings field; only options given on the command line override settings
_RUN_OPTIONS: list[tuple[str, str, dict[str, Any]]] = [
    ("--input", "input", {"help": "file, folder or URI of NDJSON, CSV or Parquet files"}),
    ("--output", "output", {"help": "folder for predictions, rejects and the run manifest"}),
    ("--format", "input_format", {"choices": ["auto", "ndjson", "csv", "parquet"]}),
    ("--id-column", "id_column", {"help": "key column carried into the output (id)"}),
    ("--feature-column", "feature_column", {"help": "one array column holding the features"}),
    ("--batch-size", "batch_size", {"type": int, "help": "rows per model call (4096)"}),
    ("--block-mb", "block_mb", {"type": float, "help": "MiB parsed at once (4)"}),
    ("--part-mb", "part_mb", {"type": float, "help": "MiB per part (32)"}),
    ("--engine", "engine", {"choices": ["local", "ray"]}),
    ("--workers", "workers", {"type": int, "help": "threads (local) or actors (ray)"}),
    ("--ray-address", "ray_address", {"help": "join this Ray cluster"}),
    ("--max-reject-rate", "max_reject_rate", {"type": float, "help": "0-1 (0.01)"}),
    ("--progress", "progress", {"choices": ["auto", "on", "off"]}),
    ("--metrics-file", "metrics_file", {"help": "Prometheus text file"}),
    ("--pushgateway", "pushgateway", {"help": "Pushgateway URL"}),
    ("--models-dir", "models_dir", {"help": "folder with manifest.json (models)"}),
    ("--device", "device", {"choices": ["cpu", "cuda", "auto"]}),
]


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog=f"python -m {__package__}", description=__doc__.split("\n")[0]
    )
    commands = root.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="score the input")
    for flag, field, options in _RUN_OPTIONS:
        run.add_argument(flag, dest=field, default=None, **options)
    run.add_argument("--overwrite", action="store_true", default=None)
    sample = commands.add_parser("sample", help="generate sample input")
    sample.add_argument("--path", type=Path, default=Path("data/sample.ndjson"))
    sample.add_argument("--rows", type=int, default=10_000)
    sample.add_argument("--format", choices=["auto", "ndjson", "csv", "parquet"], default="auto")
    sample.add_argument("--bad-rows", type=int, default=0, help="bad records to include")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument(
        "--feature-column", default=None, help="write the features as one array column"
    )
    sample.add_argument("--models-dir", type=Path, default=None)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    given = {k: v for k, v in vars(args).items() if k != "command" and v is not None}
    try:
        if args.command == "sample":
            settings = BatchSettings(**({"models_dir": args.models_dir} if args.models_dir else {}))
            configure_logging(settings.log_level, settings.log_json)
            return _sample(args, settings)
        settings = BatchSettings(**given)
        configure_logging(settings.log_level, settings.log_json)
        return _run(settings)
    except ValidationError as error:
        for problem in error.errors():
            field = ".".join(str(p) for p in problem["loc"])
            print(f"error: {field}: {problem['msg']}", file=sys.stderr)
        return 2
    except JobError as error:
        hint = f" ({error.hint})" if error.hint else ""
        print(f"error: {error}{hint}", file=sys.stderr)
        return error.exit_code
    except InferenceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def _run(settings: BatchSettings) -> int:
    from .job import run_job

    document = run_job(settings)
    summary = {
        "status": document["status"],
        "counts": document["counts"],
        "parts": {k: v for k, v in document["parts"].items() if k != "files"},
        "duration_s": document["duration_s"],
        "rows_per_s": document["rows_per_s"],
        "output": document["output"],
    }
    print(json.dumps(summary))
    return 0


def _sample(args: argparse.Namespace, settings: BatchSettings) -> int:
    from .job import feature_names
    from .plan import FORMATS
    from .sample import generate

    fmt = args.format
    if fmt == "auto":
        fmt = FORMATS.get(args.path.suffix.lower(), "ndjson")
    if args.feature_column and fmt == "csv":
        raise JobConfigError(
            "--feature-column: CSV has one column per feature", hint="use .ndjson or .parquet"
        )
    manifest = load_manifest(settings.models_dir)
    features = feature_names(manifest)
    bad = generate(
        manifest, features, args.path, args.rows, fmt, args.bad_rows, args.seed, args.feature_column
    )
    report = {
        "path": str(args.path),
        "format": fmt,
        "rows": args.rows,
        "bad": dict(Counter(bad.values())),
        "bad_ids": sorted(bad),
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
