"""JSON Schemas of this service's requests and answers, derived from the model's manifest.

They are what the OpenAPI document publishes, and they match the validators: a request the
schema admits is answered, one it refuses gets a 4xx (one rule of the v2 protocol, data
filling the shape, is beyond JSON Schema and said in words).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..inference.manifest import Manifest
from ..web import oip, openapi

OBJECT = {"type": "object"}
STATUS = {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}}
READY_V1 = {
    "type": "object",
    "required": ["status", "model", "version", "sha256"],
    "properties": {
        "status": {"type": "string", "enum": ["ready"]},
        "model": {"type": "string"},
        "version": {"type": "string"},
        "sha256": {"type": "string"},
    },
}
SERVER_METADATA = {
    "type": "object",
    "required": ["name", "version", "extensions"],
    "properties": {
        "name": {"type": "string"},
        "version": {"type": "string"},
        "extensions": {"type": "array", "items": {"type": "string"}},
    },
}
LIVE = {"type": "object", "required": ["live"], "properties": {"live": {"type": "boolean"}}}
READY = {"type": "object", "required": ["ready"], "properties": {"ready": {"type": "boolean"}}}
MODEL_READY = {
    "type": "object",
    "required": ["name", "ready"],
    "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}},
}
TENSOR_METADATA = {
    "type": "object",
    "required": ["name", "datatype", "shape"],
    "properties": {
        "name": {"type": "string"},
        "datatype": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer"}},
    },
}
MODEL_METADATA = {
    "type": "object",
    "required": ["name", "versions", "platform", "inputs", "outputs"],
    "properties": {
        "name": {"type": "string"},
        "versions": {"type": "array", "items": {"type": "string"}},
        "platform": {"type": "string"},
        "inputs": {"type": "array", "items": TENSOR_METADATA},
        "outputs": {"type": "array", "items": TENSOR_METADATA},
    },
}


@dataclass
class Described:
    """The model-dependent schemas, and the values the path parameters can take."""

    predict_request: dict[str, Any] = field(default_factory=lambda: dict(OBJECT))
    predict_response: dict[str, Any] = field(default_factory=lambda: dict(OBJECT))
    infer_request: dict[str, Any] = field(default_factory=lambda: dict(OBJECT))
    infer_response: dict[str, Any] = field(default_factory=lambda: dict(OBJECT))
    path_values: dict[str, list[str]] = field(default_factory=dict)


def describe(manifest: Manifest | None, max_instances: int) -> Described:
    """Schemas for the model in ``manifest`` (permissive ones when it cannot be read)."""
    if manifest is None or manifest.input.shape[1] is None:
        return Described()
    spec = manifest.input
    outputs = [manifest.output.name or "output"]
    if manifest.task == "classification" or manifest.output.classes is not None:
        outputs.append("label")
    return Described(
        predict_request=openapi.v1_request(spec, max_instances),
        predict_response=openapi.v1_answer(manifest),
        infer_request=oip.request_schema(
            spec.name, spec.n_features, max_instances, outputs, openapi.value_limit(spec)
        ),
        infer_response={
            "type": "object",
            "required": ["model_name", "model_version", "outputs"],
            "properties": {
                "model_name": {"type": "string"},
                "model_version": {"type": "string"},
                "id": {"type": "string"},
                "outputs": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "datatype", "shape"],
                        "properties": {
                            "name": {"type": "string", "enum": outputs},
                            "datatype": {"type": "string"},
                            "shape": {"type": "array", "items": {"type": "integer"}},
                            "data": {"type": "array"},
                            "parameters": {"type": "object"},
                        },
                    },
                },
            },
        },
        path_values={"name": [manifest.name], "version": [manifest.version]},
    )
