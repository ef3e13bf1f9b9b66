"""Open Inference Protocol (KServe v2 / Triton) endpoints over the same engine.

Requests are decoded and validated by :mod:`..web.oip` (JSON tensors or the binary tensor
extension Triton clients send by default). Outputs are JSON unless the request asks for
binary data.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from fastapi import APIRouter, Request, Response

from ..inference.errors import InputSchemaError
from ..inference.predictor import Predictor
from ..web import openapi
from ..web.drain import DRAIN
from ..web.oip import DTYPES, V2Error, flag, input_tensor, parse_request
from ..web.replies import Reply, error_reply, json_reply, retry_after
from . import schemas
from .engine import non_finite_rows
from .state import ServiceState

PLATFORMS = {"onnx": "onnxruntime_onnx", "sklearn": "sklearn", "torch": "pytorch_torchscript"}


def _datatype(array: np.ndarray) -> str:
    if array.dtype.kind in "US":
        return "BYTES"
    return {v: k for k, v in DTYPES.items()}[array.dtype.type]


def output_tensors(predictor: Predictor, scores: np.ndarray) -> dict[str, np.ndarray]:
    """Named output tensors: class scores and labels, or the regression values."""
    name = predictor.manifest.output.name or "output"
    scores = np.ascontiguousarray(scores, dtype=np.float32)
    if not predictor.is_classifier:
        return {name: scores}
    indices = scores.argmax(axis=1)
    classes = predictor.classes
    labels = np.asarray(classes)[indices] if classes else indices.astype(np.int64)
    if labels.dtype.kind in "iu":
        labels = labels.astype(np.int64)
    return {name: scores, "label": labels}


def output_names(predictor: Predictor) -> list[str]:
    names = [predictor.manifest.output.name or "output"]
    return [*names, "label"] if predictor.is_classifier else names


def model_metadata(predictor: Predictor) -> dict[str, Any]:
    manifest = predictor.manifest
    n = predictor.schema.n_features
    outputs = [{"name": manifest.output.name or "output", "datatype": "FP32", "shape": [-1, -1]}]
    if predictor.is_classifier:
        outputs.append({"name": "label", "datatype": "INT64", "shape": [-1]})
    return {
        "name": manifest.name,
        "versions": [manifest.version],
        "platform": PLATFORMS[manifest.framework],
        "inputs": [{"name": predictor.schema.name, "datatype": "FP32", "shape": [-1, n]}],
        "outputs": outputs,
    }


def encode_response(request: dict[str, Any], predictor: Predictor, scores: np.ndarray) -> Reply:
    tensors = output_tensors(predictor, scores)
    wanted = request.get("outputs")
    all_binary = flag(request.get("parameters") or {}, "binary_data_output", "parameters")
    selection: list[tuple[str, bool]] = []
    if wanted:
        for index, item in enumerate(wanted):
            name = item["name"]
            if name not in tensors:
                raise V2Error(f"outputs: unknown output {name!r} (have {', '.join(tensors)})")
            where = f"outputs[{index}].parameters"
            selection.append(
                (name, flag(item.get("parameters") or {}, "binary_data", where, all_binary))
            )
    else:
        selection = [(name, all_binary) for name in tensors]
    info = predictor.info
    outputs: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for name, binary in selection:
        array = tensors[name]
        entry: dict[str, Any] = {
            "name": name,
            "datatype": _datatype(array),
            "shape": list(array.shape),
        }
        if binary and entry["datatype"] != "BYTES":
            raw = np.ascontiguousarray(array).tobytes()
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            entry["data"] = array.reshape(-1).tolist()
        outputs.append(entry)
    document: dict[str, Any] = {
        "model_name": info.name,
        "model_version": info.version,
        "outputs": outputs,
    }
    if "id" in request:
        document["id"] = request["id"]
    if not chunks:
        return json_reply(document)
    head = json.dumps(document, separators=(",", ":")).encode()
    return Reply(
        200,
        head + b"".join(chunks),
        ((b"inference-header-content-length", str(len(head)).encode()),),
        b"application/octet-stream",
    )


class InferHandler:
    """``POST /v2/models/{name}[/versions/{version}]/infer``; the guard owns admission."""

    def __init__(self, state: ServiceState) -> None:
        self.state = state
        self.max_instances = state.settings.max_instances
        self.retry = retry_after(state.settings.retry_after_s)
        self.rejected = state.metrics.http.rejected

    async def __call__(
        self, name: str, version: str | None, body: bytes, header_length: str | None
    ) -> Reply:
        engine = self.state.engine
        if engine is None:
            self.rejected.labels("not_ready").inc()
            return error_reply("model not ready", 503, self.retry)
        predictor = engine.predictor
        info = predictor.info
        if name != info.name:
            return error_reply(f"model {name!r} not found", 404)
        if version is not None and version != info.version:
            return error_reply(f"model {name!r} has no version {version!r}", 404)
        schema = predictor.schema
        try:
            parsed, binary = parse_request(body, header_length)
            tensor = input_tensor(
                parsed, binary, schema.name, schema.n_features, self.max_instances
            )
            try:
                rows = schema.from_array(tensor, loc="inputs[0]")
            except InputSchemaError as error:
                raise V2Error(str(error)) from None
            scores = await engine.infer(rows)
            unanswerable = non_finite_rows(scores)
            if unanswerable:
                raise V2Error(f"inputs[0]: the model gives no finite score for rows {unanswerable}")
            return encode_response(parsed, predictor, scores)
        except V2Error as error:
            return error_reply(str(error), error.status)


def model_path(path: str) -> tuple[str, str | None] | None:
    """``/v2/models/{name}[/versions/{v}]/infer`` -> (name, version or None); None: no route."""
    parts = path.split("/")
    if len(parts) == 5:
        return parts[3], None
    if len(parts) == 7 and parts[4] == "versions":
        return parts[3], parts[5]
    return None


def build_router(state: ServiceState, described: schemas.Described) -> APIRouter:
    router = APIRouter(prefix="/v2")
    retry = retry_after(state.settings.retry_after_s)
    handler = InferHandler(state)

    def model_or_error(name: str, version: str | None) -> Predictor | Response:
        engine = state.engine
        if engine is None:
            return error_reply("model not ready", 503, retry).to_response()
        info = engine.predictor.info
        if name != info.name:
            return error_reply(f"model {name!r} not found", 404).to_response()
        if version is not None and version != info.version:
            return error_reply(f"model {name!r} has no version {version!r}", 404).to_response()
        return engine.predictor

    @router.get("", responses=openapi.responses(schemas.SERVER_METADATA))
    async def server_metadata() -> Response:
        """Server metadata (Open Inference Protocol)."""
        extensions = ["binary_tensor_data"]
        return json_reply(
            {"name": "model-service", "version": "2", "extensions": extensions}
        ).to_response()

    @router.get("/health/live", responses=openapi.responses(schemas.LIVE, 503))
    async def live() -> Response:
        """Liveness: 503 only when the model failed to load."""
        if state.failure:
            return error_reply(f"model failed to load: {state.failure}", 503, retry).to_response()
        return json_reply({"live": True}).to_response()

    @router.get("/health/ready", responses=openapi.responses(schemas.READY, 503))
    async def server_ready() -> Response:
        """Readiness: 503 while the model loads and once the process drains."""
        if state.engine is None or DRAIN.active:
            why = "draining" if DRAIN.active else "model not ready"
            return error_reply(why, 503, retry).to_response()
        return json_reply({"ready": True}).to_response()

    metadata_docs = openapi.responses(schemas.MODEL_METADATA, 404, 503)

    @router.get("/models/{name}", responses=metadata_docs)
    async def metadata(name: str) -> Response:
        """Model metadata: input and output tensors."""
        found = model_or_error(name, None)
        if isinstance(found, Response):
            return found
        return json_reply(model_metadata(found)).to_response()

    @router.get("/models/{name}/versions/{version}", responses=metadata_docs)
    async def version_metadata(name: str, version: str) -> Response:
        """Metadata of one version of the model."""
        found = model_or_error(name, version)
        if isinstance(found, Response):
            return found
        return json_reply(model_metadata(found)).to_response()

    ready_docs = openapi.responses(schemas.MODEL_READY, 404, 503)

    @router.get("/models/{name}/ready", responses=ready_docs)
    async def model_ready(name: str) -> Response:
        """Model readiness."""
        found = model_or_error(name, None)
        if isinstance(found, Response):
            return found
        return json_reply({"name": name, "ready": not DRAIN.active}).to_response()

    @router.get("/models/{name}/versions/{version}/ready", responses=ready_docs)
    async def version_ready(name: str, version: str) -> Response:
        """Readiness of one version of the model."""
        found = model_or_error(name, version)
        if isinstance(found, Response):
            return found
        return json_reply({"name": name, "ready": not DRAIN.active}).to_response()

    infer_docs = {
        "responses": openapi.responses(described.infer_response, 400, 404, 413, 415, 500, 503, 504),
        "openapi_extra": {
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": described.infer_request}},
            }
        },
    }
    infer_docs["responses"][200]["content"]["application/octet-stream"] = {
        "schema": {"type": "string", "format": "binary"}
    }

    async def infer(name: str, version: str | None, request: Any) -> Response:
        body = await request.body()
        reply = await handler(
            name, version, body, request.headers.get("inference-header-content-length")
        )
        return reply.to_response()

    @router.post("/models/{name}/infer", **infer_docs)
    async def infer_latest(name: str, request: Request) -> Response:
        """Inference with v2 JSON tensors or the binary tensor extension."""
        return await infer(name, None, request)

    @router.post("/models/{name}/versions/{version}/infer", **infer_docs)
    async def infer_version(name: str, version: str, request: Request) -> Response:
        """Inference on one version of the model."""
        return await infer(name, version, request)

    return router
