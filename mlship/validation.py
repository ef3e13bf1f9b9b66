"""Turn pydantic validation errors into ``field: problem (allowed: ...)`` lines."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import ValidationError


def _location(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(top level)"


def describe_validation_error(error: ValidationError) -> list[str]:
    """One readable line per problem: the field, the value given and what is allowed."""
    lines = []
    for item in error.errors(include_url=False):
        loc = tuple(p for p in item["loc"] if not str(p).startswith(("function-", "literal[")))
        where = _location(loc)
        kind = item["type"]
        ctx = item.get("ctx") or {}
        given = item.get("input")
        if kind == "extra_forbidden":
            lines.append(f"{where}: unknown key")
            continue
        if kind == "missing":
            lines.append(f"{where}: required but missing")
            continue
        if kind in ("literal_error", "enum"):
            allowed = ctx.get("expected", "")
            lines.append(f"{where}: {given!r} is not allowed (allowed: {allowed})")
            continue
        message = str(item["msg"])
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        shown = "" if isinstance(given, dict) else f" (got {given!r})"
        lines.append(f"{where}: {message}{shown}")
    return lines
