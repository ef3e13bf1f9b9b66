"""``POST /v1/predict`` and the probes: ``/health``, ``/ready``, ``/metrics``."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from fastapi import APIRouter, Request, Response

from ..inference.errors import InputSchemaError, Problem
from .responses import error_response, json_response, problems_response
from .state import ServiceState

PREDICT_SCHEMA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["instances"],
                    "properties": {
                        "instances": {
                            "type": "array",
                            "minItems": 1,
                            "items": {
                                "oneOf": [
                                    {"type": "array", "items": {"type": "number"}},
                                    {"type": "object", "additionalProperties": {"type": "number"}},
                                ]
                            },
                        }
                    },
                }
            }
        },
    }
}


def build_router(state: ServiceState) -> APIRouter:
    router = APIRouter()
    settings = state.settings
    timeout_s = settings.timeout_s()
    max_instances = settings.max_instances
    retry = {"Retry-After": str(settings.retry_after_s)}
    metrics = state.metrics

    @router.post("/v1/predict", openapi_extra=PREDICT_SCHEMA)
    async def predict(request: Request) -> Response:
        """Predict one or many instances (lists of numbers, or objects keyed by feature)."""
        started = time.perf_counter()
        engine = state.engine
        if engine is None:
            metrics.rejected.labels("not_ready").inc()
            return error_response("model not ready", 503, retry)
        try:
            async with asyncio.timeout(timeout_s):
                body = await request.body()
                try:
                    payload = json.loads(body)
                except ValueError as error:
                    return problems_response([Problem((), f"invalid JSON: {error}")])
                if not isinstance(payload, dict) or "instances" not in payload:
                    return problems_response([Problem(("instances",), "field required")])
                instances = payload["instances"]
                if isinstance(instances, list) and len(instances) > max_instances:
                    metrics.rejected.labels("too_large").inc()
                    return error_response(
                        f"{len(instances)} instances, at most {max_instances} per request", 413
                    )
                predictor = engine.predictor
                try:
                    rows = predictor.to_array(instances)
                except InputSchemaError as error:
                    return problems_response(error.problems)
                scores = await engine.infer(rows)
        except TimeoutError:
            metrics.rejected.labels("timeout").inc()
            return error_response(f"no answer within {timeout_s:g} s", 504)
        info = predictor.info
        return json_response(
            {
                "predictions": predictor.postprocess(scores),
                "model": {"name": info.name, "version": info.version},
                "latency_ms": round((time.perf_counter() - started) * 1000, 3),
            }
        )

    @router.get("/health")
    async def health() -> Response:
        """Liveness: the process answers; 503 only when the model failed to load."""
        if state.failure:
            return error_response(f"model failed to load: {state.failure}", 503)
        return json_response({"status": "ok"})

    @router.get("/ready")
    async def ready() -> Response:
        """Readiness: 200 only once the model is loaded, verified and warmed up."""
        if state.engine is None:
            return error_response(state.failure or "model loading", 503, retry)
        info = state.engine.predictor.info
        return json_response({"status": "ready", "model": info.name, "version": info.version})

    @router.get("/metrics")
    async def metrics_endpoint() -> Response:
        if state.engine is not None:
            state.engine.refresh_metrics()
        return Response(metrics.render(), media_type=metrics.content_type)

    return router
