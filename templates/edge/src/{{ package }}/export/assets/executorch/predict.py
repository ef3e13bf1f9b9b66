"""Run the bundled ExecuTorch program: ``python predict.py '[[f1, ..., fN], ...]'``.

Needs torch and executorch (its Python runtime runs the same C++ runtime an app embeds).
The program's sha256 is checked against manifest.json before it is loaded.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import torch
from executorch.runtime import Runtime

HERE = Path(__file__).resolve().parent


def predict(rows: list[list[float]], bundle: Path = HERE) -> list[dict[str, object]]:
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    program = bundle / manifest["file"]
    digest = hashlib.sha256(program.read_bytes()).hexdigest()
    if digest != manifest["sha256"]:
        raise SystemExit(f"{program}: sha256 {digest} does not match manifest.json; refusing it")
    batch = np.asarray(rows, dtype=np.float32)
    if batch.ndim != 2:
        raise SystemExit("give a list of rows, each a list of numbers")
    method = Runtime.get().load_program(program).load_method("forward")
    scores = method.execute([torch.from_numpy(batch)])[0].numpy()
    classes = manifest.get("classes")
    results: list[dict[str, object]] = []
    for row in np.asarray(scores).reshape(len(batch), -1).tolist():
        index = int(np.argmax(row))
        results.append({"label": classes[index] if classes else index, "scores": row})
    return results


def main() -> None:
    text = sys.argv[1] if len(sys.argv) > 1 else sys.stdin.read()
    print(json.dumps({"predictions": predict(json.loads(text))}))


if __name__ == "__main__":
    main()
