"""The naive batch job the benchmark compares against.

How such jobs often start: read NDJSON line by line with ``json.loads``, score batches of
256 rows, append every prediction to a Python list, write one Parquet file with pandas at
the end. Same model file and same runtime (onnxruntime, default session options) as the
generated job. It runs in a venv of its own (``benchmarks/batch_job.py``: pandas pinned
there, onnxruntime, numpy and pyarrow at the project's pins), so that neither job loads
the other's packages.

    python naive_batch.py INPUT.ndjson MODELS_DIR OUTPUT.parquet
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd

BATCH = 256


def main(source: Path, models: Path, output: Path) -> int:
    manifest = json.loads((models / "manifest.json").read_text())
    features = manifest["input"]["features"]
    session = ort.InferenceSession(str(models / manifest["file"]))
    name = session.get_inputs()[0].name
    results: list[dict[str, object]] = []
    batch: list[dict[str, object]] = []

    def score() -> None:
        x = np.array([[row[f] for f in features] for row in batch], dtype=np.float32)
        probabilities = session.run(["probabilities"], {name: x})[0]
        for row, scores in zip(batch, probabilities, strict=True):
            results.append(
                {"id": row["id"], "label": int(scores.argmax()), "score_1": float(scores[1])}
            )
        batch.clear()

    with source.open(encoding="utf-8") as lines:
        for line in lines:
            batch.append(json.loads(line))
            if len(batch) == BATCH:
                score()
    if batch:
        score()
    pd.DataFrame(results).to_parquet(output)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])))
