"""Shed requests refused by the HTTP protocol itself, before they cost an ASGI task.

Under overload most requests are shed, and on one core every shed request takes time from
the model: the guard's 503 goes through a request cycle, a task, the app's layers and the
metrics of a served request. :class:`RefusingHttpProtocol` is uvicorn's httptools protocol
with one change: once a request's headers are parsed, it asks the guard serving this
process (:data:`FRONT_DOOR`) whether the request would be shed, and if so writes the guard's
503 at once. The body that follows is parsed and dropped, so the connection stays usable.
Everything the guard does not shed here (other routes, a wrong Content-Type or size, a
client waiting for ``100 Continue``, pipelined requests, a draining process) takes the
usual path, where the guard decides as before.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from typing import Any, Protocol

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from .replies import Reply


class Refuser(Protocol):
    def refusal(
        self, method: bytes, path: str, headers: list[tuple[bytes, bytes]]
    ) -> tuple[Reply, bytes] | None:
        """The 503 and the request id for a request to shed now, else None."""


class FrontDoor:
    """The guard answering requests on an event loop, set when it sees its first one there
    (a guard left from another loop, as in tests, is not asked)."""

    def __init__(self) -> None:
        self.guard: Refuser | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def open(self, guard: Refuser, loop: asyncio.AbstractEventLoop) -> None:
        self.guard, self.loop = guard, loop


FRONT_DOOR = FrontDoor()


class _NoWaiter:
    def set(self) -> None:
        pass


class Refused:
    """Stands in for uvicorn's request cycle once a refusal is written: the protocol then
    drops the request's body, and the next request on the connection starts afresh."""

    response_complete = True
    keep_alive = True
    disconnected = False
    message_event = _NoWaiter()


REFUSED = Refused()


def encode(reply: Reply, request_id: bytes, default_headers: list[tuple[bytes, bytes]],
           keep_alive: bool) -> bytes:  # fmt: skip
    """The whole HTTP/1.1 response, as uvicorn would write it for the same reply."""
    parts = [STATUS_LINE[reply.status]]
    for name, value in default_headers:
        parts += [name, b": ", value, b"\r\n"]
    parts += [b"content-type: ", reply.media_type, b"\r\ncontent-length: ",
              str(len(reply.body)).encode(), b"\r\n"]  # fmt: skip
    for name, value in reply.headers:
        parts += [name, b": ", value, b"\r\n"]
    parts += [b"x-request-id: ", request_id, b"\r\n"]
    if not keep_alive:
        parts.append(b"connection: close\r\n")
    parts += [b"\r\n", reply.body]
    return b"".join(parts)


class RefusingHttpProtocol(HttpToolsProtocol):
    def on_headers_complete(self) -> None:
        guard = FRONT_DOOR.guard
        if (
            guard is not None
            and FRONT_DOOR.loop is self.loop
            and not self.expect_100_continue
            and (self.cycle is None or self.cycle.response_complete)
            and not self.parser.should_upgrade()
        ):
            path = httptools.parse_url(self.url).path.decode("ascii")
            if "%" in path:
                path = urllib.parse.unquote(path)
            refused = guard.refusal(self.parser.get_method(), self.root_path + path, self.headers)
            if refused is not None:
                self._refuse(*refused)
                return
        super().on_headers_complete()

    def _refuse(self, reply: Reply, request_id: bytes) -> None:
        parser: Any = self.parser
        keep_alive = parser.get_http_version() == "1.1" and parser.should_keep_alive()
        self.transport.write(
            encode(reply, request_id, self.server_state.default_headers, keep_alive)
        )
        self.cycle = REFUSED  # type: ignore[assignment]
        if keep_alive:
            self.on_response_complete()  # what uvicorn does after a response: keep-alive timer
        else:
            self.server_state.total_requests += 1
            self.transport.close()
