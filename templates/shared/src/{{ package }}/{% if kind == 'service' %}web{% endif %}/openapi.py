"""The OpenAPI document a service publishes, kept true to what it answers.

Routes declare every status they return with :func:`responses`; the error body is the
same everywhere (:data:`ERROR`). :func:`publish` then drops FastAPI's automatic 422 from
routes that never return it and pins path parameters to the values that exist.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..inference.manifest import InputSpec, Manifest

ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "what is wrong, in words"},
        "detail": {
            "type": "array",
            "description": "one entry per invalid field (validation errors)",
            "items": {
                "type": "object",
                "required": ["loc", "msg"],
                "properties": {
                    "loc": {
                        "type": "array",
                        "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                    },
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
}
WHY = {
    400: "the request breaks the protocol (named in `error`)",
    404: "no such model or version",
    413: "the body is larger than max_body_bytes",
    415: "a Content-Type this route does not read",
    422: "invalid input; `detail` names every invalid field",
    500: "the model call failed (see the service log)",
    503: "not ready, draining, or overloaded: retry after Retry-After seconds",
    504: "no answer within the request timeout",
}
RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds until the backlog is expected to be gone",
        "required": True,
        "schema": {"type": "integer", "minimum": 0},
    }
}
FLOAT32_MAX = float(np.finfo(np.float32).max)


def value_limit(spec: InputSpec) -> float:
    """The largest magnitude a feature value may have (the manifest's, within float32)."""
    return min(spec.max_abs or FLOAT32_MAX, FLOAT32_MAX)


def v1_request(spec: InputSpec, max_instances: int) -> dict[str, Any]:
    """``{"instances": [...]}``: rows of numbers, or objects keyed by feature name."""
    width = spec.n_features
    limit = value_limit(spec)
    number = {"type": "number", "minimum": -limit, "maximum": limit}
    rows = {"type": "array", "items": number, "minItems": width, "maxItems": width}
    forms = [rows]
    if spec.features:
        forms.append(
            {
                "type": "object",
                "required": list(spec.features),
                "properties": {name: number for name in spec.features},
                "additionalProperties": False,
            }
        )
    return {
        "type": "object",
        "required": ["instances"],
        "properties": {
            "instances": {
                "anyOf": [
                    {"type": "array", "items": form, "minItems": 1, "maxItems": max_instances}
                    for form in forms
                ]
            }
        },
    }


def v1_answer(manifest: Manifest) -> dict[str, Any]:
    """The predictions of :meth:`Predictor.postprocess`, the model and the latency."""
    classes = manifest.output.classes
    if manifest.task == "classification" or classes is not None:
        label: dict[str, Any] = {"enum": classes} if classes else {"type": "integer"}
        scores = {"type": "array", "items": {"type": "number"}}
        prediction: dict[str, Any] = {
            "type": "object",
            "required": ["label", "scores"],
            "properties": {"label": label, "scores": scores},
        }
    else:
        value = {"anyOf": [{"type": "number"}, {"type": "array", "items": {"type": "number"}}]}
        prediction = {"type": "object", "required": ["value"], "properties": {"value": value}}
    text = {"type": "string"}
    return {
        "type": "object",
        "required": ["predictions", "model", "latency_ms"],
        "properties": {
            "predictions": {"type": "array", "items": prediction},
            "model": {
                "type": "object",
                "required": ["name", "version", "sha256"],
                "properties": {"name": text, "version": text, "sha256": text},
            },
            "latency_ms": {"type": "number"},
        },
    }


def responses(
    ok: dict[str, Any] | None = None, *errors: int, ok_media: str = "application/json"
) -> dict[int | str, dict[str, Any]]:
    """FastAPI ``responses=``: the 200 body (a JSON schema) and each error status."""
    documented: dict[int | str, dict[str, Any]] = {}
    if ok is not None:
        documented[200] = {"description": "OK", "content": {ok_media: {"schema": ok}}}
    for status in errors:
        entry: dict[str, Any] = {
            "description": WHY[status],
            "content": {"application/json": {"schema": ERROR}},
        }
        if status == 503:
            entry["headers"] = RETRY_AFTER
        documented[status] = entry
    return documented


def publish(app: Any, enums: Callable[[], Mapping[str, list[str]]] = dict) -> None:
    """Make ``app.openapi()`` honest: no 422 where none is declared, path values pinned.

    ``enums`` gives, when the document is built, the values each path parameter can take
    (the model's name and version), so a client generated from it cannot ask for others.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return dict(app.openapi_schema)
        document: dict[str, Any] = build()
        values = enums()
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                answers = operation.get("responses", {})
                automatic = answers.get("422", {}).get("content", {}).get("application/json", {})
                if "HTTPValidationError" in str(automatic.get("schema", "")):
                    del answers["422"]
                for parameter in operation.get("parameters", []):
                    if parameter.get("in") == "path" and parameter["name"] in values:
                        parameter["schema"] = {"type": "string", "enum": values[parameter["name"]]}
        schemas = document.get("components", {}).get("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        if "components" in document and not schemas:
            document["components"].pop("schemas", None)
            if not document["components"]:
                del document["components"]
        app.openapi_schema = document
        return document

    app.openapi = openapi
