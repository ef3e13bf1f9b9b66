"""Admission control and request metrics as one ASGI middleware (cheaper than Starlette's).

Requests over ``max_concurrency`` get 503 with Retry-After at once instead of queueing past
their deadline; bodies announced larger than ``max_body_bytes`` get 413 before being read.
"""

from __future__ import annotations

import json
import time
from typing import Any

from .metrics import Metrics

Scope = dict[str, Any]
Message = dict[str, Any]
GUARDED = ("/v1/predict",)
V2_INFER = "/v2/models/{name}/infer"


def route_of(path: str) -> str:
    """A bounded route label: the path for known routes, a template for v2, else other."""
    if path in GUARDED or path in ("/ready", "/health"):
        return path
    if path.startswith("/v2/models/") and path.endswith("/infer"):
        return V2_INFER
    return "other"


class Guard:
    def __init__(
        self,
        app: Any,
        metrics: Metrics,
        max_concurrency: int,
        max_body_bytes: int,
        retry_after_s: int,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_concurrency = max_concurrency
        self.max_body_bytes = max_body_bytes
        self.retry_after = str(retry_after_s).encode()
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route, method = scope["path"], scope["method"]
        route_label = route_of(route)
        started = time.perf_counter()
        status = {"code": 500}

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        if route_label in (*GUARDED, V2_INFER):
            length = dict(scope["headers"]).get(b"content-length")
            if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
                self.metrics.rejected.labels("too_large").inc()
                await _reply(sending, 413, {"detail": f"body over {self.max_body_bytes} bytes"})
                self._count(route_label, method, status["code"], started)
                return
            if self.in_flight >= self.max_concurrency:
                self.metrics.rejected.labels("overload").inc()
                await _reply(
                    sending,
                    503,
                    {"detail": "overloaded, retry later"},
                    [(b"retry-after", self.retry_after)],
                )
                self._count(route_label, method, status["code"], started)
                return
        self.in_flight += 1
        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, sending)
        finally:
            self.in_flight -= 1
            self.metrics.in_flight.dec()
            self._count(route_label, method, status["code"], started)

    def _count(self, route: str, method: str, status: int, started: float) -> None:
        self.metrics.requests.labels(route, method, str(status)).inc()
        self.metrics.request_duration.labels(route).observe(time.perf_counter() - started)


async def _reply(
    send: Any, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
