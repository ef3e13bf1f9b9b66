"""The ASGI entry point: the shared guard in front, the hot inference routes answered here.

The guard (:mod:`..web.guard`) gives request ids, budget-aware admission, body limits, the
request timeout, drain and HTTP metrics. Behind it, ``/v1/predict`` and
``/v2/models/{name}[/versions/{v}]/infer`` are answered directly, without FastAPI's routing
layers, because they are the hot path; everything else (probes, metrics, docs) goes to the
FastAPI app.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ..web.guard import Guard
from ..web.replies import error_reply
from .predict import PredictHandler
from .state import ServiceState
from .v2 import InferHandler, model_path

log = logging.getLogger(__name__)

PREDICT = "/v1/predict"
V2_INFER = "/v2/models/{name}/infer"
_FIXED_ROUTES = frozenset(
    {PREDICT, "/health", "/ready", "/metrics", "/v2", "/v2/health/live", "/v2/health/ready"}
)
_V2_HEADER = b"inference-header-content-length"


def route_of(path: str) -> str:
    """The route template for metrics labels (bounded cardinality)."""
    if path in _FIXED_ROUTES:
        return path
    if path.startswith("/v2/models/"):
        last = path.rsplit("/", 1)[-1]
        if last == "infer":
            return V2_INFER
        if last == "ready":
            return "/v2/models/{name}/ready"
        return "/v2/models/{name}"
    return "other"


class ServiceApp:
    """The service's ASGI app; ``state`` holds engine, metrics, admission and settings."""

    def __init__(self, fastapi_app: Any, state: ServiceState) -> None:
        self.fastapi = fastapi_app
        self.state = state
        self.predict = PredictHandler(state)
        self.infer = InferHandler(state)
        self._entry = Guard(
            self._dispatch,
            state.settings,
            state.metrics.http,
            route_of,
            guarded={PREDICT: (), V2_INFER: (b"application/octet-stream",)},
            admission=state.admission,
        )

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self._entry(scope, receive, send)

    async def _dispatch(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.fastapi(scope, receive, send)
            return
        path = scope["path"]
        route = route_of(path)
        target = model_path(path) if route == V2_INFER else None
        if route not in (PREDICT, V2_INFER) or (route == V2_INFER and target is None):
            await self.fastapi(scope, receive, send)
            return
        started = time.perf_counter()
        body = (await receive()).get("body", b"")  # the guard has read it whole
        try:
            if route == PREDICT:
                reply = await self.predict(body, started)
            else:
                header = None
                for key, value in scope["headers"]:
                    if key == _V2_HEADER:
                        header = value.decode("latin-1")
                name, version = target or ("", None)
                reply = await self.infer(name, version, body, header)
        except Exception:  # a failing model call must not take the connection down silently
            log.exception("inference failed")
            reply = error_reply("inference failed; see the service log", 500)
        await reply.send(send)
