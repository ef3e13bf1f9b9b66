"""Run the bundled model: ``python predict.py '[[f1, ..., fN], ...]'`` (or rows on stdin).

Needs only numpy and onnxruntime (requirements.txt). The model's sha256 is checked against
manifest.json before it is loaded, so a damaged or swapped file is refused.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

HERE = Path(__file__).resolve().parent


def load(bundle: Path = HERE) -> tuple[ort.InferenceSession, dict[str, object]]:
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    model = bundle / manifest["file"]
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    if digest != manifest["sha256"]:
        raise SystemExit(f"{model}: sha256 {digest} does not match manifest.json; refusing it")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    return session, manifest


def predict(rows: list[list[float]], bundle: Path = HERE) -> list[dict[str, object]]:
    session, manifest = load(bundle)
    output = manifest["output"]
    assert isinstance(output, dict)
    batch = np.asarray(rows, dtype=np.float32)
    if batch.ndim != 2:
        raise SystemExit("give a list of rows, each a list of numbers")
    scores = session.run([output["name"]], {session.get_inputs()[0].name: batch})[0]
    classes = output.get("classes")
    results: list[dict[str, object]] = []
    for row in np.asarray(scores).reshape(len(batch), -1).tolist():
        if len(row) == 1:
            results.append({"value": row[0]})
            continue
        index = int(np.argmax(row))
        results.append({"label": classes[index] if classes else index, "scores": row})
    return results


def main() -> None:
    text = sys.argv[1] if len(sys.argv) > 1 else sys.stdin.read()
    print(json.dumps({"predictions": predict(json.loads(text))}))


if __name__ == "__main__":
    main()
