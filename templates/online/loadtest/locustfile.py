"""Load test of the prediction endpoints, judged against the budget in ``mlship.yaml``.

Payloads are built from the input schema in ``models/manifest.json`` (feature count and
names), so the test follows the model without edits: rows of numbers, objects keyed by
feature name, and Open Inference Protocol tensors. The load is open-model and the verdict
uses exact percentiles (see ``openload.py``)::

    make loadtest RATE=50 DURATION=30

Environment, besides openload's: LOADTEST_MANIFEST points at another manifest,
LOADTEST_MAX_ROWS bounds the rows per request (default 8).
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

from openload import ROOT, Call, OpenModelUser

MANIFEST = Path(os.environ.get("LOADTEST_MANIFEST", ROOT / "models" / "manifest.json"))
MAX_ROWS = max(1, int(os.environ.get("LOADTEST_MAX_ROWS", "8")))

rng = random.Random(os.environ.get("LOADTEST_SEED"))


class Schema:
    """What a valid request looks like for the model in the manifest."""

    def __init__(self, manifest: dict[str, Any]) -> None:
        spec = manifest["input"]
        features = spec.get("features")
        shape = spec.get("shape") or []
        width = shape[-1] if len(shape) == 2 and isinstance(shape[-1], int) else None
        if features:
            self.features: list[str] | None = [str(name) for name in features]
            self.width = len(self.features)
        elif width:
            self.features = None
            self.width = width
        else:
            raise SystemExit(f"{MANIFEST}: input has neither feature names nor a fixed width")
        self.model = str(manifest["name"])
        self.input_name = str(spec.get("name") or "input")
        # A fixed scale per feature, so that rows differ from each other in a stable way.
        self.scales = [10 ** rng.uniform(-1, 3) for _ in range(self.width)]

    def row(self) -> list[float]:
        return [round(abs(rng.gauss(1.0, 0.3)) * scale, 4) for scale in self.scales]

    def rows(self) -> list[list[float]]:
        count = 1 if rng.random() < 0.7 else rng.randint(2, MAX_ROWS) if MAX_ROWS > 1 else 1
        return [self.row() for _ in range(count)]


def load_schema() -> Schema:
    try:
        manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SystemExit(f"{MANIFEST} not found: run `make model` first") from None
    return Schema(manifest)


SCHEMA = load_schema()


def counts(rows: int, key: str) -> Any:
    """A check: HTTP 200 with one prediction (or output row) per row sent."""

    def check(status: int, content: bytes) -> str | None:
        if status != 200:
            return f"HTTP {status}: {content[:200]!r}"
        try:
            body = json.loads(content)
            got = len(body[key]) if key == "predictions" else body["outputs"][0]["shape"][0]
        except (ValueError, KeyError, IndexError, TypeError):
            return f"unexpected body: {content[:200]!r}"
        return None if got == rows else f"sent {rows} rows, got {got} predictions"

    return check


class ModelUser(OpenModelUser):
    """The mix of request forms the service accepts: 60 % rows, 20 % objects, 20 % v2."""

    def next_call(self) -> Call:
        rows = SCHEMA.rows()
        form = rng.random()
        if form < 0.6 or (form < 0.8 and SCHEMA.features is None):
            body = json.dumps({"instances": rows})
            return Call("/v1/predict", body.encode(), counts(len(rows), "predictions"))
        if form < 0.8 and SCHEMA.features is not None:
            records = [dict(zip(SCHEMA.features, row, strict=True)) for row in rows]
            body = json.dumps({"instances": records})
            return Call("/v1/predict", body.encode(), counts(len(rows), "predictions"))
        tensor = {
            "name": SCHEMA.input_name,
            "shape": [len(rows), SCHEMA.width],
            "datatype": "FP32",
            "data": [value for row in rows for value in row],
        }
        path = f"/v2/models/{SCHEMA.model}/infer"
        body = json.dumps({"inputs": [tensor]})
        return Call(path, body.encode(), counts(len(rows), "outputs"), "/v2/models/[name]/infer")
