"""Pure ASGI middleware in front of every route: request ids, limits and HTTP metrics.

It sheds inference requests beyond ``max_concurrency`` with 503 + Retry-After (instead of
queueing them without bound), refuses bodies over ``max_body_bytes`` with 413 before
reading them, and counts every response by route, method and status.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from typing import Any

from ..logs import request_id
from .state import ServiceState

log = logging.getLogger("access")

Scope = dict[str, Any]
Message = dict[str, Any]

INFERENCE_ROUTES = frozenset({"/v1/predict", "/v2/models/{name}/infer"})
_FIXED_ROUTES = frozenset(
    {"/v1/predict", "/health", "/ready", "/metrics", "/v2", "/v2/health/live", "/v2/health/ready"}
)


def route_of(path: str) -> str:
    """The route template for metrics labels (bounded cardinality)."""
    if path in _FIXED_ROUTES:
        return path
    if path.startswith("/v2/models/"):
        parts = path.split("/")
        if parts[-1] == "infer":
            return "/v2/models/{name}/infer"
        if parts[-1] == "ready":
            return "/v2/models/{name}/ready"
        return "/v2/models/{name}"
    return "other"


class BodyTooLarge(Exception):
    pass


class Guard:
    def __init__(self, app: Any, state: ServiceState) -> None:
        self.app = app
        self.state = state
        settings = state.settings
        self.max_body = settings.max_body_bytes
        self.max_concurrency = settings.max_concurrency
        self.retry_after = str(settings.retry_after_s).encode()
        self.access_log = settings.access_log
        metrics = state.metrics
        self.m_requests = metrics.requests
        self.m_latency = metrics.latency
        self.m_in_flight = metrics.in_flight
        self.m_rejected = metrics.rejected

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        route = route_of(scope["path"])
        method = scope["method"]
        rid = ""
        length = -1
        for key, value in scope["headers"]:
            if key == b"x-request-id":
                rid = value.decode("latin-1")[:128]
            elif key == b"content-length":
                length = int(value) if value.isdigit() else -1
        rid = rid or secrets.token_hex(8)
        token = request_id.set(rid)
        status = 500
        header = (b"x-request-id", rid.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        state = self.state
        guarded = route in INFERENCE_ROUTES
        self.m_in_flight.inc()
        try:
            if guarded and state.inference_in_flight >= self.max_concurrency:
                self.m_rejected.labels("overload").inc()
                await _reject(
                    send_with_id,
                    503,
                    "overloaded: too many requests in flight",
                    [(b"retry-after", self.retry_after)],
                )
            elif guarded and length > self.max_body:
                self.m_rejected.labels("too_large").inc()
                await _reject(send_with_id, 413, f"request body over {self.max_body} bytes")
            elif guarded:
                state.inference_in_flight += 1
                try:
                    await self.app(scope, self._limited(receive), send_with_id)
                except BodyTooLarge:
                    self.m_rejected.labels("too_large").inc()
                    await _reject(send_with_id, 413, f"request body over {self.max_body} bytes")
                finally:
                    state.inference_in_flight -= 1
            else:
                await self.app(scope, receive, send_with_id)
        finally:
            self.m_in_flight.dec()
            elapsed = time.perf_counter() - started
            self.m_requests.labels(route, method, str(status)).inc()
            self.m_latency.labels(route).observe(elapsed)
            if status >= 500 or self.access_log:
                log.info(
                    "%s %s %d %.2f ms",
                    method,
                    scope["path"],
                    status,
                    elapsed * 1000,
                    extra={"route": route, "status": status},
                )
            request_id.reset(token)

    def _limited(self, receive: Any) -> Any:
        """Count body bytes as they arrive (chunked bodies have no Content-Length)."""
        seen = 0
        limit = self.max_body

        async def limited() -> Message:
            nonlocal seen
            message: Message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge
            return message

        return limited


async def _reject(
    send: Any, status: int, message: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send(
        {"type": "http.response.start", "status": status, "headers": headers + (extra or [])}
    )
    await send({"type": "http.response.body", "body": body})
