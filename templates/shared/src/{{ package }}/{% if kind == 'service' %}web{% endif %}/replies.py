"""Replies as plain data, sent raw over ASGI (hot routes, the guard) or as FastAPI responses.

Every error a service answers has the same body: ``{"error": "what is wrong"}``, plus
``detail`` (one entry per invalid field, with its location) for validation errors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import Response

from ..inference.errors import Problem

Headers = tuple[tuple[bytes, bytes], ...]
JSON = b"application/json"


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes
    headers: Headers = ()
    media_type: bytes = JSON

    def to_response(self) -> Response:
        response = Response(self.body, status_code=self.status, media_type=self.media_type.decode())
        for key, value in self.headers:
            response.headers[key.decode()] = value.decode()
        return response

    async def send(self, send: Any) -> None:
        headers = [
            (b"content-type", self.media_type),
            (b"content-length", str(len(self.body)).encode()),
            *self.headers,
        ]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


def json_reply(content: Any, status: int = 200, headers: Headers = ()) -> Reply:
    body = json.dumps(content, separators=(",", ":"), allow_nan=False).encode()
    return Reply(status, body, headers)


def error_reply(message: str, status: int, headers: Headers = (), **extra: Any) -> Reply:
    return json_reply({"error": message, **extra}, status, headers)


def retry_after(seconds: int) -> Headers:
    return ((b"retry-after", str(seconds).encode()),)


def problems_reply(problems: list[Problem], prefix: tuple[str | int, ...] = ("body",)) -> Reply:
    """422 naming every invalid field: a readable summary and one ``detail`` entry each."""
    detail = [{"loc": [*prefix, *p.loc], "msg": p.msg, "type": "value_error"} for p in problems]
    return json_reply({"error": "; ".join(str(p) for p in problems), "detail": detail}, 422)
