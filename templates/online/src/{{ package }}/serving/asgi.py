"""The ASGI entry point: request ids, limits and HTTP metrics in front of every route.

It sheds inference requests beyond ``max_concurrency`` with 503 + Retry-After (instead of
queueing them without bound), refuses bodies over ``max_body_bytes`` with 413, applies the
request timeout, and counts every response by route, method and status. The two inference
routes are answered here directly, without FastAPI's routing layers, because they are the
hot path; everything else (probes, metrics, docs) goes to the FastAPI app.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
from typing import Any

from ..logs import request_id
from .predict import PredictHandler
from .responses import Reply, error_reply
from .state import ServiceState
from .v2 import HEADER_LENGTH, InferHandler, model_name_of

log = logging.getLogger("access")

Scope = dict[str, Any]
Message = dict[str, Any]

PREDICT = "/v1/predict"
V2_INFER = "/v2/models/{name}/infer"
_FIXED_ROUTES = frozenset(
    {PREDICT, "/health", "/ready", "/metrics", "/v2", "/v2/health/live", "/v2/health/ready"}
)
_V2_HEADER = HEADER_LENGTH.encode()


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


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    """The client disconnected before sending the whole body: nobody to answer."""


class ServiceApp:
    """Wraps the FastAPI app; ``state`` is the service state (engine, metrics, settings)."""

    def __init__(self, fastapi_app: Any, state: ServiceState) -> None:
        self.fastapi = fastapi_app
        self.state = state
        settings = state.settings
        self.max_body = settings.max_body_bytes
        self.max_concurrency = settings.max_concurrency
        self.timeout_s = settings.timeout_s()
        self.retry_after = str(settings.retry_after_s).encode()
        self.access_log = settings.access_log
        self.predict = PredictHandler(state)
        self.infer = InferHandler(state)
        metrics = state.metrics
        self.m_requests = metrics.requests
        self.m_latency = metrics.latency
        self.m_in_flight = metrics.in_flight
        self.m_rejected = metrics.rejected
        # request ids: unique per process, cheaper than a random id per request
        self._id_prefix = secrets.token_hex(4)
        self._ids = itertools.count(1)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # lifespan goes to FastAPI
            await self.fastapi(scope, receive, send)
            return
        started = time.perf_counter()
        path = scope["path"]
        route = route_of(path)
        method = scope["method"]
        rid = ""
        length = -1
        v2_header: str | None = None
        for key, value in scope["headers"]:
            if key == b"x-request-id":
                rid = value.decode("latin-1")[:128]
            elif key == b"content-length":
                length = int(value) if value.isdigit() else -1
            elif key == _V2_HEADER:
                v2_header = value.decode("latin-1")
        rid = rid or f"{self._id_prefix}{next(self._ids):x}"
        token = request_id.set(rid)
        status = 500
        id_header = (b"x-request-id", rid.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        self.m_in_flight.inc()
        try:
            if method == "POST" and route in (PREDICT, V2_INFER):
                try:
                    reply = await self._inference(route, path, receive, length, v2_header, started)
                except ClientGone:
                    status = 499  # the nginx convention for "client closed request"
                else:
                    await reply.send(send_with_id)
            else:
                await self.fastapi(scope, receive, send_with_id)
        finally:
            self.m_in_flight.dec()
            elapsed = time.perf_counter() - started
            self.m_requests.labels(route, method, str(status)).inc()
            self.m_latency.labels(route).observe(elapsed)
            if status >= 500 or self.access_log:
                log.info(
                    "%s %s %d %.2f ms",
                    method,
                    path,
                    status,
                    elapsed * 1000,
                    extra={"route": route, "status": status},
                )
            request_id.reset(token)

    async def _inference(
        self,
        route: str,
        path: str,
        receive: Any,
        length: int,
        v2_header: str | None,
        started: float,
    ) -> Reply:
        state = self.state
        if state.inference_in_flight >= self.max_concurrency:
            self.m_rejected.labels("overload").inc()
            return error_reply(
                "overloaded: too many requests in flight",
                503,
                ((b"retry-after", self.retry_after),),
            )
        if length > self.max_body:
            self.m_rejected.labels("too_large").inc()
            return error_reply(f"request body over {self.max_body} bytes", 413)
        state.inference_in_flight += 1
        try:
            async with asyncio.timeout(self.timeout_s):
                body = await self._read_body(receive)
                if route == PREDICT:
                    return await self.predict(body, started)
                return await self.infer(model_name_of(path), body, v2_header)
        except BodyTooLarge:
            self.m_rejected.labels("too_large").inc()
            return error_reply(f"request body over {self.max_body} bytes", 413)
        except TimeoutError:
            self.m_rejected.labels("timeout").inc()
            return error_reply(f"no answer within {self.timeout_s:g} s", 504)
        except ClientGone:
            raise
        except Exception:  # a failing model call must not take the connection down silently
            log.exception("inference failed")
            return error_reply("inference failed; see the service log", 500)
        finally:
            state.inference_in_flight -= 1

    async def _read_body(self, receive: Any) -> bytes:
        """The whole body, counted as it arrives (chunked bodies have no Content-Length)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)
