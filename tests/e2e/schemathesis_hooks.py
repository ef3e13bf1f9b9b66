"""Schemathesis hooks for the generated services (loaded with SCHEMATHESIS_HOOKS=this file).

The Open Inference Protocol has one rule JSON Schema cannot state, and the services'
OpenAPI documents say it in words: an input tensor's ``data`` fills its ``shape`` (rows x
width values, flat or nested). Positive cases are made to follow it by setting the rows of
the shape from the data generated; negative cases are left as generated. Where a phase
builds cases without this hook (the coverage phase), a "schema-valid request rejected"
failure is dropped only when the request broke that rule, so it was not valid at all.
"""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    meta = getattr(case, "meta", None)
    if meta is None or not meta.generation.mode.is_positive:
        return case
    if not case.operation.path.endswith("/infer") or not isinstance(case.body, dict):
        return case
    inputs = case.body.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        return case
    tensor = inputs[0]
    data, shape = tensor.get("data"), tensor.get("shape")
    if not isinstance(data, list) or not data or not isinstance(shape, list) or len(shape) != 2:
        return case
    if all(isinstance(row, list) for row in data):
        shape[0] = len(data)
    else:
        width = int(shape[1])
        rows = max(1, len(data) // width)
        del data[rows * width :]
        shape[0] = rows
    return case


def _fills_shape(body: Any) -> bool:
    """Whether the first input tensor's data holds exactly rows x width values."""
    try:
        tensor = body["inputs"][0]
        rows, width = tensor["shape"]
        data = tensor["data"]
    except (KeyError, IndexError, TypeError, ValueError):
        return True  # not this rule's business: the other checks judge it
    if data and all(isinstance(row, list) for row in data):
        return bool(len(data) == rows and all(len(row) == width for row in data))
    return bool(len(data) == rows * width)


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep every failure but a rejection of a request whose data does not fill its shape."""
    if getattr(failure, "code", "") != "ST202" or not case.operation.path.endswith("/infer"):
        return True
    return _fills_shape(case.body)
