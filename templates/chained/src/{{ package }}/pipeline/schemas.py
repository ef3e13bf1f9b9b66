"""JSON Schemas of the pipeline's requests and answers, as its OpenAPI document publishes them.

They match the validators: a request the schema admits is answered, one it refuses gets a
4xx naming the problem.
"""

from __future__ import annotations

from typing import Any

from ..inference.predictor import Predictor
from ..web import oip, openapi
from .settings import PipelineSettings

TEXT = {"type": "string"}
STATUS = {"type": "object", "required": ["status"], "properties": {"status": TEXT}}
MODEL = {
    "type": "object",
    "required": ["name", "version"],
    "properties": {"name": TEXT, "version": TEXT, "sha256": {"type": ["string", "null"]}},
}
READY = {
    "type": "object",
    "required": ["ready", "degraded", "draining", "stages"],
    "properties": {
        "ready": {"type": "boolean"},
        "degraded": {"type": "boolean"},
        "draining": {"type": "boolean"},
        "stages": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["location", "ready", "fallback", "circuit"],
                "properties": {
                    "location": {"type": "string", "enum": ["local", "remote"]},
                    "ready": {"type": "boolean"},
                    "fallback": TEXT,
                    "circuit": {"type": ["string", "null"]},
                },
            },
        },
    },
}
PIPELINE = {
    "type": "object",
    "required": ["name", "version", "manifest_version"],
    "properties": {"name": TEXT, "version": TEXT, "manifest_version": TEXT},
}
DESCRIPTION = {
    "type": "object",
    "required": ["pipeline", "order", "deadline_ms", "stages"],
    "properties": {
        "pipeline": PIPELINE,
        "order": {"type": "array", "items": TEXT},
        "deadline_ms": {"type": "number"},
        "stages": {"type": "object"},
    },
}
STAGE_REPORT = {
    "type": "object",
    "required": ["status", "latency_ms", "budget_ms", "attempts", "location", "model"],
    "properties": {
        "status": {"type": "string", "enum": ["ok", "skipped", "default", "failed"]},
        "latency_ms": {"type": "number"},
        "budget_ms": {"type": "number"},
        "attempts": {"type": "integer"},
        "location": TEXT,
        "model": MODEL,
        "error": TEXT,
    },
}
PREDICTION = {
    "type": "object",
    "required": ["predictions", "stages", "pipeline", "deadline_ms", "latency_ms"],
    "properties": {
        "predictions": {
            "type": "array",
            "description": "per instance: each stage's output (null when it was skipped)",
            "items": {"type": "object"},
        },
        "stages": {"type": "object", "additionalProperties": STAGE_REPORT},
        "pipeline": PIPELINE,
        "deadline_ms": {"type": "number"},
        "latency_ms": {"type": "number"},
    },
}
STAGE_READY = {
    "type": "object",
    "required": ["ready", "stage", "model"],
    "properties": {"ready": {"type": "boolean"}, "stage": TEXT, "model": MODEL},
}
V2_READY = {"type": "object", "required": ["ready"], "properties": {"ready": {"type": "boolean"}}}
V2_ANSWER = {
    "type": "object",
    "required": ["model_name", "model_version", "outputs"],
    "properties": {
        "model_name": TEXT,
        "model_version": TEXT,
        "outputs": {"type": "array", "items": {"type": "object"}},
    },
}
STAGE_ANSWER = {"type": "object", "required": ["predictions", "model", "latency_ms"]}


def json(schema: dict[str, Any]) -> dict[str, Any]:
    """An OpenAPI ``content`` map with one JSON body."""
    return {"application/json": {"schema": schema}}


def predict_request(settings: PipelineSettings) -> dict[str, Any]:
    instance = {
        "type": "object",
        "required": ["text"],
        "properties": {
            "text": {"type": "string", "minLength": 1, "maxLength": settings.max_text_chars}
        },
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "required": ["instances"],
        "properties": {
            "instances": {
                "type": "array",
                "items": instance,
                "minItems": 1,
                "maxItems": settings.max_instances,
            }
        },
        "additionalProperties": False,
    }


def stage_v1_request(predictor: Predictor, max_rows: int) -> dict[str, Any]:
    return openapi.v1_request(predictor.manifest.input, max_rows)


def stage_v2_request(predictor: Predictor, max_rows: int) -> dict[str, Any]:
    schema = predictor.schema
    limit = openapi.value_limit(predictor.manifest.input)
    return oip.request_schema(schema.name, schema.n_features, max_rows, [], limit)
