"""FastAPI routes: probes, metrics, and the documented form of ``/v1/predict``.

``/v1/predict`` and ``/v2/models/{name}/infer`` are served by :mod:`.asgi` before FastAPI
routing (the hot path); the routes declared here describe them in OpenAPI and serve them
when the FastAPI app is mounted on its own.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse

from ..web import openapi
from ..web.drain import DRAIN
from ..web.replies import error_reply, json_reply, retry_after
from . import schemas
from .predict import PredictHandler
from .state import ServiceState


def build_router(state: ServiceState, described: schemas.Described) -> APIRouter:
    router = APIRouter()
    handler = PredictHandler(state)
    retry = retry_after(state.settings.retry_after_s)
    metrics = state.metrics

    @router.post(
        "/v1/predict",
        responses=openapi.responses(described.predict_response, 413, 415, 422, 500, 503, 504),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": described.predict_request}},
            }
        },
    )
    async def predict(request: Request) -> Response:
        """Predict one or many instances (lists of numbers, or objects keyed by feature)."""
        started = time.perf_counter()
        reply = await handler(await request.body(), started)
        return reply.to_response()

    @router.get("/health", responses=openapi.responses(schemas.STATUS, 503))
    async def health() -> Response:
        """Liveness: the process answers; 503 only when the model failed to load."""
        if state.failure:
            return error_reply(f"model failed to load: {state.failure}", 503, retry).to_response()
        return json_reply({"status": "ok"}).to_response()

    @router.get("/ready", responses=openapi.responses(schemas.READY_V1, 503))
    async def ready() -> Response:
        """Readiness: 200 once the model is loaded, verified and warm; 503 while draining."""
        if state.engine is None:
            return error_reply(state.failure or "model loading", 503, retry).to_response()
        if DRAIN.active:
            return error_reply("draining", 503, retry).to_response()
        info = state.engine.predictor.info
        return json_reply(
            {"status": "ready", "model": info.name, "version": info.version, "sha256": info.sha256}
        ).to_response()

    @router.get(
        "/metrics",
        response_class=PlainTextResponse,
        responses={200: {"description": "Prometheus text format"}},
    )
    async def metrics_endpoint() -> Response:
        """Prometheus metrics."""
        if state.engine is not None:
            state.engine.refresh_metrics()
        return Response(metrics.render(), media_type=metrics.content_type)

    return router
