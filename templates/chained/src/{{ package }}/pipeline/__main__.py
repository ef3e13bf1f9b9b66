"""``python -m <package>.pipeline``: check the pipeline and its models, then serve them.

Exit code 2: the declaration in pipeline.yaml is wrong (the message names stage and field).
Exit code 1: a model is missing, tampered with, or does not fit the stage that reads it.
SIGTERM drains the service (:mod:`..web.server`).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..inference.errors import InferenceError
from ..inference.predictor import load_predictor
from ..logs import configure_logging
from ..web.server import serve
from .adapters import CompatibilityError, stage_record
from .build import build_pipeline
from .manifest import load_pipeline_manifest
from .metrics import Metrics
from .settings import PipelineSettings
from .spec import SpecError, load_spec
from .tracing import setup as setup_tracing

log = logging.getLogger(__name__)


def build_app(settings: PipelineSettings):  # type: ignore[no-untyped-def]
    from .app import create_pipeline_app, create_stage_app

    metrics = Metrics(settings.request_deadline_ms())
    tracing, flush = setup_tracing(settings.tracing, settings.serve_stage or "pipeline")
    if settings.serve_stage:
        spec, _ = load_spec(settings.pipeline_file)
        names = [s.name for s in spec.stages]
        if settings.serve_stage not in names:
            raise SpecError(
                f"serve_stage: unknown stage {settings.serve_stage!r} (stages: {', '.join(names)})"
            )
        record = stage_record(
            spec.stage(settings.serve_stage), load_pipeline_manifest(settings.models_dir)
        )
        predictor = load_predictor(
            settings.model_copy(update={"models_dir": Path(settings.models_dir) / record.dir})
        )
        if predictor.info.sha256 != record.sha256:
            raise CompatibilityError(
                f"stage {settings.serve_stage!r}: model sha256 differs from models/pipeline.json"
            )
        return create_stage_app(
            settings, settings.serve_stage, predictor, metrics, tracing=tracing, on_close=flush
        )
    pipeline = build_pipeline(settings, metrics, tracing=tracing)
    return create_pipeline_app(settings, pipeline, metrics, tracing=tracing, on_close=flush)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the model pipeline over HTTP")
    parser.add_argument("--host", help="overrides APP_HOST")
    parser.add_argument("--port", type=int, help="overrides APP_PORT")
    parser.add_argument("--stage", dest="serve_stage", help="serve one stage (split deployment)")
    parser.add_argument("--check", action="store_true", help="validate and exit")
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if v is not None and k != "check"}
    settings = PipelineSettings(**overrides)
    configure_logging(settings.log_level, settings.log_json)
    try:
        app = build_app(settings)
    except SpecError as error:
        log.error("refusing to start: %s", error)
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (CompatibilityError, InferenceError) as error:
        log.error("refusing to start: %s", error)
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.check:
        print("pipeline ok")
        return 0
    return serve(app, settings)


if __name__ == "__main__":
    sys.exit(main())
