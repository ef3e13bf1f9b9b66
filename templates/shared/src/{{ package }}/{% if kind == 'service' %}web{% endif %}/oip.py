"""Open Inference Protocol (KServe v2 / Triton) requests: decoding, validation, OpenAPI schema.

A request is the v2 JSON tensor format, or the binary tensor extension Triton clients send
by default (a JSON header of ``Inference-Header-Content-Length`` bytes, then raw tensor
bytes). The declared ``datatype`` is enforced as the protocol specifies: integers in
range for the integer types, finite numbers in range for the float types, never booleans.
Every problem is a :class:`V2Error` (400) naming the field; nothing here reaches a 5xx.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

HEADER_LENGTH = "inference-header-content-length"
FLOAT_MAX = {
    "FP16": 65504.0,
    "FP32": float(np.finfo(np.float32).max),
    "FP64": float(np.finfo(np.float64).max),
}
INT_RANGE = {
    "INT8": (-(2**7), 2**7 - 1),
    "INT16": (-(2**15), 2**15 - 1),
    "INT32": (-(2**31), 2**31 - 1),
    "INT64": (-(2**63), 2**63 - 1),
    "UINT8": (0, 2**8 - 1),
    "UINT16": (0, 2**16 - 1),
    "UINT32": (0, 2**32 - 1),
    "UINT64": (0, 2**64 - 1),
}
DTYPES: dict[str, Any] = {
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
}


class V2Error(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def parse_request(body: bytes, header_length: str | None) -> tuple[dict[str, Any], bytes]:
    """The JSON part as an object with valid ``parameters`` everywhere, and the binary rest."""
    if header_length is None:
        head, binary = body, b""
    else:
        if not header_length.isdigit() or int(header_length) > len(body):
            raise V2Error(f"bad {HEADER_LENGTH} header: {header_length[:40]!r}")
        head, binary = body[: int(header_length)], body[int(header_length) :]
    try:
        request = json.loads(head)
    except RecursionError:
        raise V2Error("invalid JSON: nested too deeply") from None
    except ValueError as error:
        raise V2Error(f"invalid JSON: {error}") from None
    if not isinstance(request, dict):
        raise V2Error("the request must be a JSON object")
    _parameters(request, "parameters")
    if "id" in request and not isinstance(request["id"], str):
        raise V2Error("id: expected a string")
    if "outputs" in request:
        outputs = request["outputs"]
        if not isinstance(outputs, list):
            raise V2Error("outputs: expected a list of output requests")
        for index, item in enumerate(outputs):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise V2Error(f"outputs[{index}]: expected an object with a string name")
            _parameters(item, f"outputs[{index}].parameters")
    return request, binary


def _parameters(owner: dict[str, Any], where: str) -> dict[str, Any]:
    if "parameters" not in owner:
        return {}
    parameters = owner["parameters"]
    if not isinstance(parameters, dict):
        raise V2Error(f"{where}: expected an object")
    return parameters


def flag(parameters: dict[str, Any], name: str, where: str, default: bool = False) -> bool:
    value = parameters.get(name, default)
    if type(value) is not bool:
        raise V2Error(f"{where}.{name}: expected true or false")
    return value


def input_tensor(
    request: dict[str, Any], binary: bytes, input_name: str, width: int, max_rows: int
) -> np.ndarray:
    """The single input tensor, shape ``[rows, width]``, in its declared datatype."""
    inputs = request.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise V2Error("inputs: exactly one input tensor expected")
    tensor = inputs[0]
    name, datatype, shape = tensor.get("name"), tensor.get("datatype"), tensor.get("shape")
    if name != input_name:
        raise V2Error(f"inputs[0].name: expected {input_name!r}, got {_show(name)}")
    if not isinstance(datatype, str) or datatype not in DTYPES:
        raise V2Error(f"inputs[0].datatype: {_show(datatype)} is not one of {', '.join(DTYPES)}")
    dims = [_integer(d) for d in shape] if isinstance(shape, list) else []
    if len(dims) != 2 or dims[1] != width or not 1 <= (dims[0] or 0) <= max_rows:
        raise V2Error(
            f"inputs[0].shape: expected [rows, {width}] with 1 <= rows <= {max_rows}, "
            f"got {_show(shape)}"
        )
    rows = dims[0] or 0
    shape = dims
    parameters = _parameters(tensor, "inputs[0].parameters")
    dtype = np.dtype(DTYPES[datatype])
    if "binary_data_size" in parameters:
        size = parameters["binary_data_size"]
        if type(size) is not int or size != len(binary):
            raise V2Error("inputs[0].parameters.binary_data_size does not match the body")
        if size != rows * width * dtype.itemsize:
            raise V2Error(f"inputs[0]: {size} bytes do not hold shape {shape} of {datatype}")
        if "data" in tensor:
            raise V2Error("inputs[0]: binary data and a data field at once")
        return np.frombuffer(binary, dtype=dtype).reshape(rows, width)
    if binary:
        raise V2Error("binary data after the JSON header, but no input declares binary_data_size")
    values = _flat_values(tensor.get("data"), rows, width)
    _check_values(values, datatype)
    return np.array(values, dtype=dtype).reshape(rows, width)


def _flat_values(data: Any, rows: int, width: int) -> list[Any]:
    """The data as one flat list: given flat, or nested as ``[rows][width]``."""
    if not isinstance(data, list):
        raise V2Error("inputs[0].data: expected a list of numbers")
    if data and all(isinstance(row, list) for row in data):
        if len(data) != rows or any(len(row) != width for row in data):
            raise V2Error(f"inputs[0].data: nested lists do not have shape [{rows}, {width}]")
        return [value for row in data for value in row]
    if len(data) != rows * width:
        raise V2Error(f"inputs[0].data: {len(data)} values do not fill shape [{rows}, {width}]")
    return list(data)


def _check_values(values: list[Any], datatype: str) -> None:
    if datatype in FLOAT_MAX:
        limit = FLOAT_MAX[datatype]
        for index, value in enumerate(values):
            kind = type(value)
            if kind is float:
                if math.isfinite(value) and -limit <= value <= limit:
                    continue
            elif kind is int and -limit <= value <= limit:
                continue
            raise V2Error(
                f"inputs[0].data[{index}]: {_show(value)} is not a finite {datatype} number"
            )
        return
    low, high = INT_RANGE[datatype]
    for index, value in enumerate(values):
        number = _integer(value)
        if number is None or not low <= number <= high:
            raise V2Error(
                f"inputs[0].data[{index}]: {_show(value)} is not a {datatype} integer "
                f"({low}..{high})"
            )
        values[index] = number


def _integer(value: Any) -> int | None:
    """An integer as JSON Schema counts them (``3`` and ``3.0``), never a boolean."""
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    return None


def _show(value: Any) -> str:
    text = (
        json.dumps(value)
        if isinstance(value, str | int | float | bool | None)
        else type(value).__name__
    )
    return text if len(text) <= 40 else text[:37] + "..."


def request_schema(
    input_name: str, width: int, max_rows: int, outputs: list[str], max_abs: float
) -> dict[str, Any]:
    """JSON Schema of what :func:`input_tensor` accepts in the JSON form.

    One rule is beyond JSON Schema and stated in the description instead: ``data`` holds
    exactly ``rows x width`` values (flat) or ``rows`` lists of ``width`` (nested).
    """
    text = {"type": "string"}
    branches = []
    for datatype in DTYPES:
        if datatype in FLOAT_MAX:
            limit = min(FLOAT_MAX[datatype], max_abs)
            item: dict[str, Any] = {"type": "number", "minimum": -limit, "maximum": limit}
        else:
            low, high = INT_RANGE[datatype]
            bound = math.floor(max_abs)
            item = {"type": "integer", "minimum": max(low, -bound), "maximum": min(high, bound)}
        branches.append(
            {
                "type": "object",
                "required": ["name", "shape", "datatype", "data"],
                "properties": {
                    "name": {"type": "string", "enum": [input_name]},
                    "shape": {
                        "type": "array",
                        "prefixItems": [
                            {"type": "integer", "minimum": 1, "maximum": max_rows},
                            {"type": "integer", "enum": [width]},
                        ],
                        "items": False,
                        "minItems": 2,
                        "maxItems": 2,
                    },
                    "datatype": {"type": "string", "enum": [datatype]},
                    # binary_data_size belongs to the binary extension, not to this JSON form
                    "parameters": {"type": "object", "not": {"required": ["binary_data_size"]}},
                    "data": {
                        "anyOf": [
                            {
                                "type": "array",
                                "items": item,
                                "minItems": width,
                                "maxItems": width * max_rows,
                            },
                            {
                                "type": "array",
                                "items": {
                                    "type": "array",
                                    "items": item,
                                    "minItems": width,
                                    "maxItems": width,
                                },
                                "minItems": 1,
                                "maxItems": max_rows,
                            },
                        ]
                    },
                },
            }
        )
    return {
        "type": "object",
        "required": ["inputs"],
        "description": "Open Inference Protocol request. `data` holds rows x width values, "
        "flat in row-major order or nested as rows of width values. The binary tensor "
        f"extension is accepted too ({HEADER_LENGTH} header, application/octet-stream).",
        "properties": {
            "id": {"type": "string"},
            "parameters": {
                "type": "object",
                "properties": {"binary_data_output": {"type": "boolean"}},
            },
            "inputs": {"type": "array", "items": {"oneOf": branches}, "minItems": 1, "maxItems": 1},
            "outputs": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string", "enum": outputs} if outputs else text,
                        "parameters": {
                            "type": "object",
                            "properties": {"binary_data": {"type": "boolean"}},
                        },
                    },
                },
            },
        },
    }
