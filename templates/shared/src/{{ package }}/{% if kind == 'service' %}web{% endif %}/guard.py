"""The front door of a service: one ASGI layer for ids, admission, limits, drain and metrics.

Inference routes (``guarded``) are admitted by :class:`Admission`: a request that cannot
finish within the budget is shed at once with 503 and a Retry-After derived from the
backlog. Their bodies are read here, within ``max_body_bytes`` (413) and the request
timeout (504), then handed to the app; a Content-Type they cannot read gets 415. Every
response carries ``X-Request-Id`` and is counted by route, method and status; while the
process drains, every response also says ``Connection: close``. Shed requests are
counted in metrics and summarised in the log, never logged one line each. Served by
:func:`.server.serve`, most shed requests never reach this layer as ASGI: the HTTP protocol
asks :meth:`Guard.refusal` first and writes the 503 itself (:mod:`.refusal`).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

from ..logs import request_id
from .admission import Admission
from .drain import DRAIN, Drain
from .metrics import HttpMetrics
from .refusal import FRONT_DOOR
from .replies import Reply, error_reply, retry_after
from .settings import HttpSettings

log = logging.getLogger("access")

Scope = dict[str, Any]
Message = dict[str, Any]
SHED_LOG_EVERY_S = 10.0
GAUGES_EVERY_S = 0.5
LAG_EVERY_S = 0.02  # every beat wakes the loop: frequent beats cost an idle service CPU
CLIENT_GONE = 499  # the nginx convention for "client closed request"
_CLOSE = (b"connection", b"close")


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    """The client disconnected before sending the whole body: nobody to answer."""


def media_type_of(value: bytes) -> bytes:
    return value.split(b";", 1)[0].strip().lower()


def is_json(media_type: bytes) -> bool:
    return media_type == b"application/json" or media_type.endswith(b"+json")


def read_headers(headers: list[tuple[bytes, bytes]]) -> tuple[bytes, int, bytes]:
    """The guard's headers: request id (at most 128 bytes), Content-Length (-1 when absent
    or not a number) and Content-Type."""
    rid = content_type = b""
    length = -1
    for key, value in headers:
        if key == b"x-request-id":
            rid = value[:128]
        elif key == b"content-length":
            length = int(value) if value.isdigit() else -1
        elif key == b"content-type":
            content_type = value
    return rid, length, content_type


class ShedLog:
    """One line when shedding starts, then one count per ``SHED_LOG_EVERY_S`` while it lasts."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.count = 0
        self._clock = clock
        self._next = 0.0

    def shed(self, route: str, retry_s: int, count: int = 1) -> None:
        self.count += count
        now = self._clock()
        if now < self._next:
            return
        log.warning(
            "shedding load: %d request(s) answered 503 since the last report (latest on %s, "
            "Retry-After %d s); see http_requests_rejected_total",
            self.count,
            route,
            retry_s,
            extra={"shed": self.count, "route": route},
        )
        self.count = 0
        self._next = now + SHED_LOG_EVERY_S


class Guard:
    """ASGI middleware; ``guarded`` maps inference route labels to the non-JSON media types
    they also read (``application/json`` is always accepted, and so is no Content-Type)."""

    def __init__(
        self,
        app: Any,
        settings: HttpSettings,
        metrics: HttpMetrics,
        route_of: Callable[[str], str],
        guarded: Mapping[str, Collection[bytes]],
        drain: Drain = DRAIN,
        admission: Admission | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.route_of = route_of
        self.guarded = {route: frozenset(types) for route, types in guarded.items()}
        self.drain = drain
        self.max_body = settings.max_body_bytes
        self.timeout_s = settings.timeout_s()
        self.access_log = settings.access_log
        self.admission = admission or Admission.from_settings(settings)
        self.shed_log = ShedLog()
        self._gauges_due = 0.0
        # metric children by label values (bounded: routes are labels, methods a fixed set)
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._timers: dict[str, Any] = {}
        # shedding must cost the event loop as little as possible: its replies are made once
        self._shed_counter = metrics.rejected.labels("overload")
        self._shed_replies: dict[int, Reply] = {}
        self._refused: dict[str, int] = {}  # refused by the protocol, not yet in metrics
        self._refused_retry_s = 0
        self._watched: asyncio.AbstractEventLoop | None = None  # the loop whose lag is measured
        # request ids: unique per process, cheaper than a random id per request
        self._id_prefix = secrets.token_hex(4)
        self._ids = itertools.count(1)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # lifespan goes to the app
            await self.app(scope, receive, send)
            return
        if self._refused:  # before anything that reads metrics sees them
            self._count_refusals()
        started = time.perf_counter()
        path = scope["path"]
        route = self.route_of(path)
        method = scope["method"]
        given_id, length, content_type = read_headers(scope["headers"])
        rid = given_id.decode("latin-1") or self._new_id()
        token = request_id.set(rid)
        state = {"status": 0}
        id_header = (b"x-request-id", rid.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                extra = [id_header, _CLOSE] if self.drain.active else [id_header]
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        metrics = self.metrics
        metrics.in_flight.inc()
        shed = False
        try:
            if method == "POST" and route in self.guarded:
                shed = await self._guarded(
                    scope, receive, send_with_id, route, length, content_type, state
                )
            else:
                await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("request failed: %s %s", method, path)
            if not state["status"]:
                await error_reply("internal error; see the service log", 500).send(send_with_id)
        finally:
            metrics.in_flight.dec()
            status = state["status"] or CLIENT_GONE
            elapsed = time.perf_counter() - started
            counter = self._counters.get((route, method, status))
            if counter is None:
                counter = metrics.requests.labels(route, method, str(status))
                self._counters[(route, method, status)] = counter
            counter.inc()
            if not shed:  # shed requests are counted, not timed: they would hide the p99
                timer = self._timers.get(route)
                if timer is None:
                    timer = self._timers[route] = metrics.latency.labels(route)
                timer.observe(elapsed)
            if self.access_log or (status >= 500 and not shed):
                log.info(
                    "%s %s %d %.2f ms",
                    method,
                    path,
                    status,
                    elapsed * 1000,
                    extra={"route": route, "status": status},
                )
            request_id.reset(token)

    async def _guarded(
        self,
        scope: Scope,
        receive: Any,
        send: Any,
        route: str,
        length: int,
        content_type: bytes,
        state: dict[str, int],
    ) -> bool:
        """Admit, read and run one inference request; True when it was shed."""
        rejected = self.metrics.rejected
        if content_type:
            media_type = media_type_of(content_type)
            if not self._reads(route, media_type):
                rejected.labels("unsupported_media_type").inc()
                readable = ", ".join(
                    ["application/json", *(t.decode() for t in self.guarded[route])]
                )
                await error_reply(
                    f"Content-Type {media_type.decode('latin-1')!r} is not read here; "
                    f"send {readable}",
                    415,
                ).send(send)
                return False
        if length > self.max_body:
            rejected.labels("too_large").inc()
            await error_reply(f"request body over {self.max_body} bytes", 413).send(send)
            return False
        admission = self.admission
        if self._watched is not asyncio.get_running_loop():
            self._watch_loop()
        retry_s = admission.admit()
        if retry_s is not None:
            self._shed_counter.inc()
            self.shed_log.shed(route, retry_s)
            await self._shed_reply(retry_s).send(send)
            return True
        try:
            async with asyncio.timeout(self.timeout_s):
                admission.reading += 1
                try:
                    body = await self._read_body(receive)
                finally:
                    admission.reading -= 1
                await self.app(scope, _replay(body, receive), send)
        except BodyTooLarge:
            rejected.labels("too_large").inc()
            await error_reply(f"request body over {self.max_body} bytes", 413).send(send)
        except TimeoutError:
            rejected.labels("timeout").inc()
            if not state["status"]:
                await error_reply(f"no answer within {self.timeout_s:g} s", 504).send(send)
        except ClientGone:
            pass
        finally:
            admission.release()
            self._update_gauges()
        return False

    def refusal(
        self, method: bytes, path: str, headers: list[tuple[bytes, bytes]]
    ) -> tuple[Reply, bytes] | None:
        """The 503 and request id when a request, seen by its headers alone, is to be shed
        now. None leaves the request to the usual path, which decides everything but
        shedding first (415, 413), logs access and closes connections while draining.
        Refusals reach the metrics and the log in bulk (:meth:`_count_refusals`), at the
        next beat of the lag watcher or the next request through the guard, whichever is
        first: each metric update costs the loop a lock."""
        if method != b"POST" or self.drain.active or self.access_log:
            return None
        route = self.route_of(path)
        if route not in self.guarded:
            return None
        rid, length, content_type = read_headers(headers)
        if length > self.max_body or (
            content_type and not self._reads(route, media_type_of(content_type))
        ):
            return None
        retry_s = self.admission.refusal()
        if retry_s is None:
            return None
        rid = rid or self._new_id().encode()
        self._refused[route] = self._refused.get(route, 0) + 1
        self._refused_retry_s = retry_s
        return self._shed_reply(retry_s), rid

    def _reads(self, route: str, media_type: bytes) -> bool:
        return is_json(media_type) or media_type in self.guarded[route]

    def _new_id(self) -> str:
        return f"{self._id_prefix}{next(self._ids):x}"

    def _count_refusals(self) -> None:
        refused, self._refused = self._refused, {}
        for route, count in refused.items():
            self._shed_counter.inc(count)
            self.metrics.requests.labels(route, "POST", "503").inc(count)
            self.shed_log.shed(route, self._refused_retry_s, count)

    def _watch_loop(self) -> None:
        """Measure how late the event loop runs a callback due every ``LAG_EVERY_S``: the
        time a request waits before the guard sees it, which admission must count. From
        then on this guard is the one that the HTTP protocol asks to refuse requests."""
        loop = asyncio.get_running_loop()
        self._watched = loop
        FRONT_DOOR.open(self, loop)
        admission = self.admission

        def beat(due: float) -> None:
            now = loop.time()
            admission.observe_lag(max(0.0, now - due))
            if self._refused:
                self._count_refusals()
            if self._watched is loop:
                loop.call_at(now + LAG_EVERY_S, beat, now + LAG_EVERY_S)

        first = loop.time() + LAG_EVERY_S
        loop.call_at(first, beat, first)

    def _shed_reply(self, retry_s: int) -> Reply:
        reply = self._shed_replies.get(retry_s)
        if reply is None:
            reply = error_reply(
                "overloaded: this request could not be answered within the latency budget",
                503,
                retry_after(retry_s),
            )
            if len(self._shed_replies) < 64:
                self._shed_replies[retry_s] = reply
        return reply

    def _update_gauges(self) -> None:
        now = time.monotonic()
        if now < self._gauges_due:
            return
        self._gauges_due = now + GAUGES_EVERY_S
        rate = self.admission.rate
        self.metrics.service_rate.set(rate or 0.0)
        self.metrics.backlog.set(self.admission.backlog_s())

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


def _replay(body: bytes, receive: Any) -> Any:
    """A ``receive`` that gives the body already read, then defers to the real one."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        if pending:
            return pending.pop()
        message: Message = await receive()
        return message

    return replayed
