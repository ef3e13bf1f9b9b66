"""Parity of the bundled Core ML model against the source model, on a Mac.

``pip install coremltools numpy && python check_parity.py`` loads model.mlpackage, scores
the rows in parity_rows.npz (the evaluation rows of `make export`) and compares them with
the source model's scores stored beside them, with the tolerance from manifest.json.
Exit code 0: within tolerance; 1: not. Core ML runs only on macOS, which is why this check
could not run where the bundle was built.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def main() -> int:
    import coremltools as ct

    manifest = json.loads((HERE / "manifest.json").read_text(encoding="utf-8"))
    data = np.load(HERE / "parity_rows.npz")
    model = ct.models.MLModel(str(HERE / manifest["file"]))
    input_name = manifest["signature"]["inputs"][0]["name"]
    output_name = manifest["signature"]["outputs"][0]["name"]
    scores = np.concatenate(
        [
            np.asarray(model.predict({input_name: data["x"][i : i + 64]})[output_name])
            for i in range(0, len(data["x"]), 64)
        ]
    ).reshape(len(data["x"]), -1)
    reference = data["scores"].reshape(len(scores), -1)
    gap = float(np.abs(scores - reference).max())
    agreement = float((scores.argmax(axis=1) == reference.argmax(axis=1)).mean())
    tolerance = manifest["tolerance"]
    passed = agreement >= tolerance["min_label_agreement"] and (
        tolerance.get("max_abs_diff") is None or gap <= tolerance["max_abs_diff"]
    )
    print(json.dumps({"rows": len(scores), "max_abs_diff": gap, "label_agreement": agreement,
                      "passed": passed}))  # fmt: skip
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
