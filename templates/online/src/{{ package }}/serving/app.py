"""The FastAPI application: routes, the shared guard and the model's life cycle."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from ..inference.manifest import Manifest, load_manifest
from ..inference.predictor import Predictor
from ..logs import configure_logging
from ..web import openapi
from ..web.server import adopt_running_server, freeze_heap
from . import routes, schemas, v2
from .asgi import ServiceApp
from .metrics import Metrics
from .settings import ServingSettings
from .state import ServiceState
from .tracing import tracing_middleware


def _manifest(predictor: Predictor | None, settings: ServingSettings) -> Manifest | None:
    if predictor is not None:
        return predictor.manifest
    try:
        return load_manifest(settings.models_dir)
    except Exception:  # the loader reports it properly; the app starts not ready
        return None


def create_app(settings: ServingSettings | None = None, predictor: Predictor | None = None) -> Any:
    """Build the ASGI app; with ``predictor`` it serves that model, else it loads one.

    The result is a :class:`ServiceApp` (its ``state`` holds engine, metrics, admission and
    settings) around the FastAPI app, wrapped for tracing when ``tracing`` is on.
    """
    settings = settings or ServingSettings()
    if not logging.getLogger().handlers:  # a worker process started by uvicorn's supervisor
        configure_logging(settings.log_level, settings.log_json)
    manifest = _manifest(predictor, settings)
    histogram = manifest.baseline.score_histogram if manifest and manifest.baseline else None
    metrics = Metrics(
        budget_s=settings.latency_budget_ms / 1000,
        max_batch=settings.max_batch_size,
        score_edges=histogram.edges if histogram else None,
    )
    state = ServiceState(settings, metrics)
    if predictor is not None:
        state.attach(predictor)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        adopt_running_server()
        # uvicorn accepts connections only after start-up, so each worker process waits for
        # its model here; a failed load is kept in the state (/health and /ready say 503).
        if not state.ready:
            await state.load()
        freeze_heap()
        try:
            yield
        finally:
            await asyncio.to_thread(state.close)

    app = FastAPI(
        title="model service",
        description="Predictions from the model in models/manifest.json",
        lifespan=lifespan,
    )
    described = schemas.describe(manifest, settings.max_instances)
    app.include_router(routes.build_router(state, described))
    app.include_router(v2.build_router(state, described))
    openapi.publish(app, lambda: described.path_values)
    name = predictor.info.name if predictor else "model-service"
    return tracing_middleware(ServiceApp(app, state), settings, name, state.on_close)
