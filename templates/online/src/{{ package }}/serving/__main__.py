"""``python -m <package>.serving``: check the model, then serve it with uvicorn.

With one worker the model is loaded, verified and warmed here, before the port opens, so a
bad model stops the start with a clear message and exit code 1. With several workers this
process checks the manifest and checksum, and each worker loads its own copy. SIGTERM
drains the service (:mod:`..web.server`).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile

from ..inference.errors import InferenceError
from ..inference.manifest import load_manifest, verify_artifact
from ..inference.predictor import load_predictor
from ..logs import configure_logging
from ..web.server import serve
from .settings import ServingSettings

log = logging.getLogger(__name__)
APP_FACTORY = f"{__package__}.app:create_app"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the model over HTTP")
    parser.add_argument("--host", help="overrides APP_HOST")
    parser.add_argument("--port", type=int, help="overrides APP_PORT")
    parser.add_argument("--workers", type=int, help="overrides APP_WORKERS")
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if v is not None}
    settings = ServingSettings(**overrides)
    configure_logging(settings.log_level, settings.log_json)
    workers = settings.worker_count()
    try:
        if workers == 1:
            from .app import create_app

            return serve(create_app(settings, predictor=load_predictor(settings)), settings)
        verify_artifact(load_manifest(settings.models_dir), settings.models_dir)
    except InferenceError as error:
        log.error("refusing to start: %s", error)
        return 1
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="prometheus-")
    for key, value in overrides.items():  # workers rebuild settings from the environment
        os.environ[f"APP_{key.upper()}"] = str(value)
    return serve(APP_FACTORY, settings, workers=workers, factory=True)


if __name__ == "__main__":
    sys.exit(main())
