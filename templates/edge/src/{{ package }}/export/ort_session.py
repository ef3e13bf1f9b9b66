"""onnxruntime sessions with pinned threads, so every variant is measured alike."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort


def open_session(path: Path, threads: int = 1) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_scores(
    session: ort.InferenceSession, x: np.ndarray, output: str, chunk: int = 1024
) -> np.ndarray:
    """Scores for every row, in chunks so a large sample does not need one huge call."""
    name = session.get_inputs()[0].name
    parts = [
        np.asarray(session.run([output], {name: x[i : i + chunk]})[0], dtype=np.float64)
        for i in range(0, len(x), chunk)
    ]
    return np.concatenate(parts)
