"""Small JSON helpers shared by the v1 and v2 routes."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Response

from ..inference.errors import Problem


def json_response(
    content: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    body = json.dumps(content, separators=(",", ":"), allow_nan=False)
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def problems_response(
    problems: list[Problem], prefix: tuple[str | int, ...] = ("body",)
) -> Response:
    """422 naming every invalid field, in FastAPI's ``detail`` shape plus a readable summary."""
    detail = [{"loc": [*prefix, *p.loc], "msg": p.msg, "type": "value_error"} for p in problems]
    return json_response(
        {"error": "; ".join(str(p) for p in problems), "detail": detail}, status=422
    )


def error_response(message: str, status: int, headers: dict[str, str] | None = None) -> Response:
    return json_response({"error": message}, status=status, headers=headers)
