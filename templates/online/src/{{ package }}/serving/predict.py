"""``POST /v1/predict``: JSON instances in, labels and scores out, model version and latency."""

from __future__ import annotations

import json
import time
from typing import Any

from ..inference.errors import InputSchemaError, Problem
from .responses import Reply, error_reply, json_reply, problems_reply
from .state import ServiceState

# Documents the request in OpenAPI; the handler validates against the manifest itself.
PREDICT_OPENAPI: dict[str, Any] = {
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


class PredictHandler:
    """Turns a request body into a reply; the caller owns body limits and the timeout."""

    def __init__(self, state: ServiceState) -> None:
        self.state = state
        self.max_instances = state.settings.max_instances
        self.retry = ((b"retry-after", str(state.settings.retry_after_s).encode()),)
        self.rejected = state.metrics.rejected

    async def __call__(self, body: bytes, started: float) -> Reply:
        engine = self.state.engine
        if engine is None:
            self.rejected.labels("not_ready").inc()
            return error_reply("model not ready", 503, self.retry)
        try:
            payload = json.loads(body)
        except ValueError as error:
            return problems_reply([Problem((), f"invalid JSON: {error}")])
        if not isinstance(payload, dict) or "instances" not in payload:
            return problems_reply([Problem(("instances",), "field required")])
        instances = payload["instances"]
        if isinstance(instances, list) and len(instances) > self.max_instances:
            self.rejected.labels("too_large").inc()
            return error_reply(
                f"{len(instances)} instances, at most {self.max_instances} per request", 413
            )
        predictor = engine.predictor
        try:
            rows = predictor.to_array(instances)
        except InputSchemaError as error:
            return problems_reply(error.problems)
        scores = await engine.infer(rows)
        return json_reply(
            {
                "predictions": predictor.postprocess(scores),
                "model": engine.model_ref,
                "latency_ms": round((time.perf_counter() - started) * 1000, 3),
            }
        )
