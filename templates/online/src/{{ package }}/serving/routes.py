"""FastAPI routes: probes, metrics, and the documented form of the inference routes.

``/v1/predict`` and ``/v2/models/{name}/infer`` are served by :mod:`.asgi` before FastAPI
routing (the hot path); the routes declared here describe them in OpenAPI and serve them
when the FastAPI app is mounted on its own.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response

from .predict import PREDICT_OPENAPI, PredictHandler
from .responses import error_reply, json_reply
from .state import ServiceState


def build_router(state: ServiceState) -> APIRouter:
    router = APIRouter()
    handler = PredictHandler(state)
    retry = ((b"retry-after", str(state.settings.retry_after_s).encode()),)
    metrics = state.metrics

    @router.post("/v1/predict", openapi_extra=PREDICT_OPENAPI)
    async def predict(request: Request) -> Response:
        """Predict one or many instances (lists of numbers, or objects keyed by feature)."""
        started = time.perf_counter()
        reply = await handler(await request.body(), started)
        return reply.to_response()

    @router.get("/health")
    async def health() -> Response:
        """Liveness: the process answers; 503 only when the model failed to load."""
        if state.failure:
            return error_reply(f"model failed to load: {state.failure}", 503).to_response()
        return json_reply({"status": "ok"}).to_response()

    @router.get("/ready")
    async def ready() -> Response:
        """Readiness: 200 only once the model is loaded, verified and warmed up."""
        if state.engine is None:
            return error_reply(state.failure or "model loading", 503, retry).to_response()
        info = state.engine.predictor.info
        return json_reply(
            {"status": "ready", "model": info.name, "version": info.version}
        ).to_response()

    @router.get("/metrics")
    async def metrics_endpoint() -> Response:
        """Prometheus metrics."""
        if state.engine is not None:
            state.engine.refresh_metrics()
        return Response(metrics.render(), media_type=metrics.content_type)

    return router
