"""The FastAPI application: routes, middleware and the model's life cycle."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from ..inference.predictor import Predictor
from ..logs import configure_logging
from . import routes, v2
from .asgi import ServiceApp
from .metrics import Metrics
from .settings import ServingSettings
from .state import ServiceState
from .tracing import tracing_middleware


def _score_edges(predictor: Predictor | None, settings: ServingSettings) -> list[float] | None:
    if predictor is None:
        from ..inference.manifest import load_manifest

        try:
            manifest = load_manifest(settings.models_dir)
        except Exception:  # the loader reports it properly; buckets fall back to [0, 1]
            return None
    else:
        manifest = predictor.manifest
    histogram = manifest.baseline.score_histogram if manifest.baseline else None
    return histogram.edges if histogram else None


def create_app(settings: ServingSettings | None = None, predictor: Predictor | None = None) -> Any:
    """Build the ASGI app; with ``predictor`` it serves that model, else it loads one.

    The result is a :class:`ServiceApp` (its ``state`` holds engine, metrics and settings)
    around the FastAPI app, wrapped for tracing when ``tracing`` is on.
    """
    settings = settings or ServingSettings()
    if not logging.getLogger().handlers:  # a worker process started by uvicorn's supervisor
        configure_logging(settings.log_level, settings.log_json)
    metrics = Metrics(
        budget_s=settings.latency_budget_ms / 1000,
        max_batch=settings.max_batch_size,
        score_edges=_score_edges(predictor, settings),
    )
    state = ServiceState(settings, metrics)
    if predictor is not None:
        state.attach(predictor)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # uvicorn accepts connections only after start-up, so each worker process waits for
        # its model here; a failed load is kept in the state (/health and /ready say 503).
        if not state.ready:
            await state.load()
        try:
            yield
        finally:
            await asyncio.to_thread(state.close)

    app = FastAPI(
        title="model service",
        description="Predictions from the model in models/manifest.json",
        lifespan=lifespan,
    )
    app.include_router(routes.build_router(state))
    app.include_router(v2.build_router(state))
    name = predictor.info.name if predictor else "model-service"
    return tracing_middleware(ServiceApp(app, state), settings, name, state.on_close)
