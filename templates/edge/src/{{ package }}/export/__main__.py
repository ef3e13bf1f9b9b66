"""``python -m <package>.export``: the edge pipeline from the command line.

``run`` (the default; ``make export``) exports, checks, quantizes, benchmarks, judges and
bundles. ``verify --model FILE`` checks any ONNX file against the project's source model,
e.g. a model someone edited by hand. ``serve`` serves a bundle over HTTP (the browser
page). Exit codes: 0 fine, 1 a check failed, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from ..inference.errors import ModelLoadError
from .bundle import BundleError
from .config import ConfigError, load_config
from .parity import describe_failure
from .pipeline import Options, PipelineError, run_pipeline, verify
from .serve import NoBundle, serve_bundle

VARIANTS = ("dynamic", "static", "fp16")
RUNTIMES = ("onnx", "onnx-web", "litert", "executorch", "coreml")


def _variants(text: str) -> list[str]:
    chosen = [v.strip() for v in text.split(",") if v.strip() and v.strip() != "none"]
    unknown = [v for v in chosen if v not in VARIANTS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown variant(s) {', '.join(unknown)} (allowed: {', '.join(VARIANTS)}, none)"
        )
    return chosen


def _targets(text: str) -> list[str]:
    chosen = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in chosen if t not in RUNTIMES]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"unknown target(s) {', '.join(unknown) or '(none)'} (allowed: {', '.join(RUNTIMES)})"
        )
    return chosen


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="python -m export", description=__doc__.splitlines()[0])
    main.add_argument("--config", type=Path, default=Path("export.yaml"))
    main.add_argument("--models-dir", type=Path, default=Path("models"))
    main.add_argument("--sample", type=Path, help=".npz (x, y), .npy or .csv sample inputs")
    commands = main.add_subparsers(dest="command")
    run = commands.add_parser("run", help="the whole pipeline (default)")
    run.add_argument("--dist", type=Path, default=Path("dist"))
    run.add_argument("--work", type=Path, default=Path("build/export"))
    run.add_argument("--record", type=Path, default=Path("mlship.yaml"))
    run.add_argument(
        "--target",
        choices=["browser", "mobile", "android", "ios", "embedded", "server"],
        help="the device (default: mlship.yaml, then export.yaml)",
    )
    run.add_argument(
        "--runtimes", type=_targets, help="comma list: onnx,onnx-web,litert,executorch,coreml"
    )
    run.add_argument("--device-factor", type=float, help="target slowdown versus this machine")
    run.add_argument("--variants", type=_variants, help="comma list: dynamic,static,fp16 or none")
    run.add_argument("--opset", type=int)
    run.add_argument("--threads", type=int, help="intra-op threads for the benchmark")
    run.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    check = commands.add_parser("verify", help="parity of an ONNX file against the source")
    check.add_argument("--model", type=Path, required=True)
    check.add_argument("--variant", default="fp32", choices=["fp32", *VARIANTS])
    serve = commands.add_parser("serve", help="serve a bundle over HTTP (the page is /web/)")
    serve.add_argument("--dist", type=Path, default=Path("dist"))
    serve.add_argument("--host", default=os.environ.get("APP_HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("APP_PORT", "8000")))
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "serve":
        try:
            return serve_bundle(args.dist, args.host, args.port)
        except NoBundle as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    try:
        config = load_config(args.config)
        if args.command == "verify":
            checked = verify(config, args.models_dir, args.model, args.variant, args.sample)
            print(json.dumps({k: v for k, v in checked.as_dict().items()}))
            if not checked.passed:
                print(describe_failure(str(args.model), checked), file=sys.stderr)
                return 1
            return 0
        options = Options(models_dir=args.models_dir, sample=args.sample)
        if args.command == "run":
            options.dist, options.work, options.record = args.dist, args.work, args.record
            options.target, options.device_factor = args.target, args.device_factor
            options.targets = args.runtimes
            options.variants, options.opset, options.threads = (
                args.variants,
                args.opset,
                args.threads,
            )
        report = run_pipeline(config, options)
    except (ConfigError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (PipelineError, ModelLoadError, BundleError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if getattr(args, "json", False):
        print(json.dumps(report))
    else:
        print(_summary(report))
    for entry in report.get("runtimes", []):
        if entry["status"] in ("not_produced", "not_applicable", "unverified"):
            print(
                f"note: {entry['target']} {entry['variant']}: {entry['status']}: "
                f"{entry.get('reason', '')}",
                file=sys.stderr,
            )
    failed = report.get("failed_targets", [])
    broken = [f for f in failed if f["status"] == "failed"]
    for item in broken:
        print(
            f"error: {item['target']} {item['variant']} failed its check: {item['reason']}",
            file=sys.stderr,
        )
    return 1 if broken else 0


def _summary(report: dict[str, Any]) -> str:
    chosen = report["recommendation"]
    runtimes = ", ".join(
        f"{e['target']}/{e['variant']} {e['status']}" for e in report.get("runtimes", [])
    )
    return (
        f"ship {chosen['variant']} ({chosen['why']}); "
        + (f"runtimes: {runtimes}; " if runtimes else "")
        + f"report: {Path(str(report['bundle']['path'])) / 'report.md'}"
    )


if __name__ == "__main__":
    sys.exit(main())
