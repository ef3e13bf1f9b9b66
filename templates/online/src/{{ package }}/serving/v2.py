"""Open Inference Protocol (KServe v2 / Triton) endpoints over the same engine.

Requests use the v2 JSON tensor format, or the binary tensor extension that Triton clients
send by default (a JSON header of ``Inference-Header-Content-Length`` bytes followed by raw
tensor bytes). Outputs are JSON unless the request asks for binary data.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from fastapi import APIRouter, Request, Response

from ..inference.errors import InputSchemaError
from ..inference.predictor import Predictor
from .responses import Reply, error_reply, json_reply
from .state import ServiceState

HEADER_LENGTH = "inference-header-content-length"
DTYPES: dict[str, Any] = {
    "FP32": np.float32,
    "FP64": np.float64,
    "FP16": np.float16,
    "INT64": np.int64,
    "INT32": np.int32,
    "INT16": np.int16,
    "INT8": np.int8,
    "UINT8": np.uint8,
}
PLATFORMS = {"onnx": "onnxruntime_onnx", "sklearn": "sklearn", "torch": "pytorch_torchscript"}


class V2Error(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


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


def parse_request(body: bytes, header_length: str | None) -> tuple[dict[str, Any], bytes]:
    if header_length is None:
        head, binary = body, b""
    else:
        if not header_length.isdigit() or int(header_length) > len(body):
            raise V2Error(f"bad {HEADER_LENGTH} header: {header_length!r}")
        head, binary = body[: int(header_length)], body[int(header_length) :]
    try:
        request = json.loads(head)
    except ValueError as error:
        raise V2Error(f"invalid JSON: {error}") from None
    if not isinstance(request, dict):
        raise V2Error("the request must be a JSON object")
    return request, binary


def input_array(request: dict[str, Any], binary: bytes, predictor: Predictor) -> np.ndarray:
    """The single input tensor as validated float32 rows."""
    inputs = request.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise V2Error("inputs: exactly one input tensor expected")
    tensor = inputs[0]
    name, datatype, shape = tensor.get("name"), tensor.get("datatype"), tensor.get("shape")
    if name != predictor.schema.name:
        raise V2Error(f"inputs[0].name: expected {predictor.schema.name!r}, got {name!r}")
    if datatype not in DTYPES:
        raise V2Error(f"inputs[0].datatype: {datatype!r} is not numeric ({', '.join(DTYPES)})")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise V2Error("inputs[0].shape: expected a list of non-negative integers")
    size = int(np.prod(shape))
    parameters = tensor.get("parameters") or {}
    if "binary_data_size" in parameters:
        length = parameters["binary_data_size"]
        if type(length) is not int or length != len(binary):
            raise V2Error("inputs[0].parameters.binary_data_size does not match the body")
        dtype = np.dtype(DTYPES[datatype])
        if length != size * dtype.itemsize:
            raise V2Error(f"inputs[0]: {length} bytes do not hold shape {shape} of {datatype}")
        array = np.frombuffer(binary, dtype=dtype)
    else:
        data = tensor.get("data")
        if not isinstance(data, list):
            raise V2Error("inputs[0].data: expected a list of numbers")
        try:
            array = np.array(data)
        except ValueError:
            raise V2Error("inputs[0].data: ragged nested lists") from None
        if array.dtype.kind not in "iuf":
            raise V2Error("inputs[0].data: every value must be a number")
        if array.size != size:
            raise V2Error(f"inputs[0].data: {array.size} values do not fill shape {shape}")
    try:
        return predictor.schema.from_array(array.reshape(shape), loc="inputs[0]")
    except InputSchemaError as error:
        raise V2Error(str(error)) from None


def encode_response(request: dict[str, Any], predictor: Predictor, scores: np.ndarray) -> Reply:
    tensors = output_tensors(predictor, scores)
    wanted = request.get("outputs")
    params = request.get("parameters") or {}
    all_binary = bool(params.get("binary_data_output"))
    selection: list[tuple[str, bool]] = []
    if isinstance(wanted, list) and wanted:
        for item in wanted:
            name = item.get("name") if isinstance(item, dict) else None
            if name not in tensors:
                raise V2Error(f"outputs: unknown output {name!r} (have {', '.join(tensors)})")
            binary = bool((item.get("parameters") or {}).get("binary_data", all_binary))
            selection.append((name, binary))
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
    """``POST /v2/models/{name}/infer``; the caller owns body limits and the timeout."""

    def __init__(self, state: ServiceState) -> None:
        self.state = state
        self.max_instances = state.settings.max_instances
        self.retry = ((b"retry-after", str(state.settings.retry_after_s).encode()),)
        self.rejected = state.metrics.rejected

    async def __call__(self, name: str, body: bytes, header_length: str | None) -> Reply:
        engine = self.state.engine
        if engine is None:
            self.rejected.labels("not_ready").inc()
            return error_reply("model not ready", 503, self.retry)
        predictor = engine.predictor
        if name != predictor.info.name:
            return error_reply(f"model {name!r} not found", 404)
        try:
            parsed, binary = parse_request(body, header_length)
            rows = input_array(parsed, binary, predictor)
            if len(rows) > self.max_instances:
                self.rejected.labels("too_large").inc()
                return error_reply(
                    f"{len(rows)} rows, at most {self.max_instances} per request", 413
                )
            scores = await engine.infer(rows)
            return encode_response(parsed, predictor, scores)
        except V2Error as error:
            return error_reply(str(error), error.status)


def model_name_of(path: str) -> str:
    """``/v2/models/{name}[/versions/{v}]/infer`` -> name."""
    return path.split("/")[3] if path.count("/") >= 4 else ""


def build_router(state: ServiceState) -> APIRouter:
    router = APIRouter(prefix="/v2")
    retry = ((b"retry-after", str(state.settings.retry_after_s).encode()),)
    handler = InferHandler(state)

    def model_or_error(name: str) -> Predictor | Response:
        engine = state.engine
        if engine is None:
            return error_reply("model not ready", 503, retry).to_response()
        if name != engine.predictor.info.name:
            return error_reply(f"model {name!r} not found", 404).to_response()
        return engine.predictor

    @router.get("")
    async def server_metadata() -> Response:
        """Server metadata (Open Inference Protocol)."""
        extensions = ["binary_tensor_data"]
        return json_reply(
            {"name": "model-service", "version": "2", "extensions": extensions}
        ).to_response()

    @router.get("/health/live")
    async def live() -> Response:
        if state.failure:
            return error_reply(f"model failed to load: {state.failure}", 503).to_response()
        return json_reply({"live": True}).to_response()

    @router.get("/health/ready")
    async def server_ready() -> Response:
        if state.engine is None:
            return error_reply("model not ready", 503, retry).to_response()
        return json_reply({"ready": True}).to_response()

    @router.get("/models/{name}")
    @router.get("/models/{name}/versions/{version}")
    async def metadata(name: str) -> Response:
        """Model metadata: input and output tensors."""
        found = model_or_error(name)
        if isinstance(found, Response):
            return found
        return json_reply(model_metadata(found)).to_response()

    @router.get("/models/{name}/ready")
    @router.get("/models/{name}/versions/{version}/ready")
    async def model_ready(name: str) -> Response:
        found = model_or_error(name)
        if isinstance(found, Response):
            return found
        return json_reply({"name": name, "ready": True}).to_response()

    @router.post("/models/{name}/infer")
    @router.post("/models/{name}/versions/{version}/infer")
    async def infer(name: str, request: Request) -> Response:
        """Inference with v2 JSON tensors or the binary tensor extension."""
        body = await request.body()
        reply = await handler(name, body, request.headers.get(HEADER_LENGTH))
        return reply.to_response()

    return router
