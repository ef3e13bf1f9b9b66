"""The baseline teams often start from: an ``async`` FastAPI endpoint that calls a
blocking scikit-learn ``predict_proba`` on the event loop, one request at a time.

Run: ``NAIVE_MODEL=path.joblib uvicorn benchmarks.naive_service:app --workers 1``.
It exists only to be measured against; do not copy it.
"""

from __future__ import annotations

import os

import joblib
import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()
model = joblib.load(os.environ["NAIVE_MODEL"])


class PredictRequest(BaseModel):
    instances: list[list[float]]


@app.post("/v1/predict")
async def predict(request: PredictRequest) -> dict[str, object]:
    scores = model.predict_proba(np.asarray(request.instances))
    return {"predictions": [{"label": int(s.argmax()), "scores": s.tolist()} for s in scores]}


@app.get("/ready")
async def ready() -> dict[str, str]:
    return {"status": "ready"}
