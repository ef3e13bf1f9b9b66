"""Run the bundled LiteRT model: ``python predict.py '[[f1, ..., fN], ...]'`` (or rows on stdin).

Needs numpy and ai-edge-litert (the LiteRT interpreter). The model's sha256 is checked
against manifest.json before it is loaded, so a damaged or swapped file is refused.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter

HERE = Path(__file__).resolve().parent


def load(bundle: Path = HERE) -> tuple[Interpreter, dict[str, object]]:
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    model = bundle / manifest["file"]
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    if digest != manifest["sha256"]:
        raise SystemExit(f"{model}: sha256 {digest} does not match manifest.json; refusing it")
    return Interpreter(model_path=str(model), num_threads=1), manifest


def predict(rows: list[list[float]], bundle: Path = HERE) -> list[dict[str, object]]:
    interpreter, manifest = load(bundle)
    batch = np.asarray(rows, dtype=np.float32)
    if batch.ndim != 2:
        raise SystemExit("give a list of rows, each a list of numbers")
    entry = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(entry["index"], list(batch.shape))
    interpreter.allocate_tensors()
    if entry["dtype"] != np.float32:  # a full-int8 model: quantize the rows as it expects
        scale, zero = entry["quantization"]
        info = np.iinfo(entry["dtype"])
        batch = np.clip(np.round(batch / scale + zero), info.min, info.max).astype(entry["dtype"])
    interpreter.set_tensor(entry["index"], batch)
    interpreter.invoke()
    output = interpreter.get_output_details()[0]
    scores = interpreter.get_tensor(output["index"]).astype(np.float32)
    if output["dtype"] != np.float32:
        scale, zero = output["quantization"]
        scores = (scores - zero) * scale
    classes = manifest.get("classes")
    results: list[dict[str, object]] = []
    for row in np.asarray(scores).reshape(len(batch), -1).tolist():
        index = int(np.argmax(row))
        label = classes[index] if isinstance(classes, list) else index
        results.append({"label": label, "scores": row})
    return results


def main() -> None:
    text = sys.argv[1] if len(sys.argv) > 1 else sys.stdin.read()
    print(json.dumps({"predictions": predict(json.loads(text))}))


if __name__ == "__main__":
    main()
