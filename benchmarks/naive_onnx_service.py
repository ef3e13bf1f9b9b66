"""The naive ONNX baseline: the same runtime as the generated service (onnxruntime, the same
graph), called the way teams often start: an ``async`` FastAPI endpoint running the model on
the event loop, one request at a time, no batching, no limits.

Run: ``NAIVE_MODEL=model.onnx uvicorn benchmarks.naive_onnx_service:app --workers 1``.
It exists only to be measured against; do not copy it.
"""

from __future__ import annotations

import os

import numpy as np
import onnxruntime as ort
from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()
options = ort.SessionOptions()
options.intra_op_num_threads = 1
session = ort.InferenceSession(
    os.environ["NAIVE_MODEL"], options, providers=["CPUExecutionProvider"]
)
INPUT = session.get_inputs()[0].name


class PredictRequest(BaseModel):
    instances: list[list[float]]


@app.post("/v1/predict")
async def predict(request: PredictRequest) -> dict[str, object]:
    rows = np.asarray(request.instances, dtype=np.float32)
    scores = session.run(["probabilities"], {INPUT: rows})[0]
    return {"predictions": [{"label": int(s.argmax()), "scores": s.tolist()} for s in scores]}


@app.get("/ready")
async def ready() -> dict[str, str]:
    return {"status": "ready"}
