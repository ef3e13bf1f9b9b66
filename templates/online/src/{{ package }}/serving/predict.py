"""``POST /v1/predict``: JSON instances in, labels and scores out, model version and latency."""

from __future__ import annotations

import json
import time

from ..inference.errors import InputSchemaError, Problem
from ..web.replies import Reply, error_reply, json_reply, problems_reply, retry_after
from .engine import non_finite_rows
from .state import ServiceState


class PredictHandler:
    """Turns a request body into a reply; the guard owns admission, body limits and timeout."""

    def __init__(self, state: ServiceState) -> None:
        self.state = state
        self.max_instances = state.settings.max_instances
        self.retry = retry_after(state.settings.retry_after_s)
        self.rejected = state.metrics.http.rejected

    async def __call__(self, body: bytes, started: float) -> Reply:
        engine = self.state.engine
        if engine is None:
            self.rejected.labels("not_ready").inc()
            return error_reply("model not ready", 503, self.retry)
        try:
            payload = json.loads(body)
        except RecursionError:
            return problems_reply([Problem((), "invalid JSON: nested too deeply")])
        except ValueError as error:
            return problems_reply([Problem((), f"invalid JSON: {error}")])
        if not isinstance(payload, dict) or "instances" not in payload:
            return problems_reply([Problem(("instances",), "field required")])
        instances = payload["instances"]
        if isinstance(instances, list) and len(instances) > self.max_instances:
            return problems_reply(
                [
                    Problem(
                        ("instances",), f"{len(instances)} instances, at most {self.max_instances}"
                    )
                ]
            )
        predictor = engine.predictor
        try:
            rows = predictor.to_array(instances)
        except InputSchemaError as error:
            return problems_reply(error.problems)
        scores = await engine.infer(rows)
        unanswerable = non_finite_rows(scores)
        if unanswerable:
            message = "the model gives no finite score for this instance"
            return problems_reply([Problem(("instances", i), message) for i in unanswerable])
        return json_reply(
            {
                "predictions": predictor.postprocess(scores),
                "model": engine.model_ref,
                "latency_ms": round((time.perf_counter() - started) * 1000, 3),
            }
        )
