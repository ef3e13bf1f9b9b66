"""Build the demo model offline from scikit-learn's bundled breast-cancer dataset.

``python -m <package>.demo_model --format onnx|sklearn|torch [--kind linear|forest]``
trains a logistic regression (default) or a 100-tree random forest (``DEMO_MODEL=forest``),
exports it for the chosen runtime, checks the export against the trained model, and writes
``models/manifest.json`` with the checksum, schema and a baseline score histogram from a
held-out split. A manifest whose ``source`` is ``user`` is never overwritten.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from .inference.drift import score_histogram
from .inference.manifest import MANIFEST_NAME, Manifest, sha256_of

NAME = "breast-cancer-classifier"
VERSION = "1.0.0"
PARITY_TOLERANCE = 1e-4
SEED = 0


def load_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    data = load_breast_cancer()
    x = data.data.astype(np.float32)
    y = data.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, random_state=SEED, stratify=y
    )
    return x_train, x_test, y_train, y_test, [str(n) for n in data.feature_names]


def train_sklearn(kind: str, x: np.ndarray, y: np.ndarray) -> Any:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "forest":
        model: Any = RandomForestClassifier(n_estimators=100, random_state=SEED, n_jobs=1)
    else:
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    return model.fit(x, y)


def export_onnx(model: Any, n_features: int, path: Path) -> None:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    onnx_model = convert_sklearn(
        model,
        initial_types=[("input", FloatTensorType([None, n_features]))],
        options={id(model): {"zipmap": False}},
    )
    path.write_bytes(onnx_model.SerializeToString())


def onnx_scores(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(["probabilities"], {"input": x})[0])


def train_torch(x: np.ndarray, y: np.ndarray, path: Path) -> Any:
    """A small MLP with the scaling and the softmax inside, saved as TorchScript."""
    import torch
    from torch import nn

    torch.manual_seed(SEED)
    mean = torch.from_numpy(x.mean(axis=0))
    std = torch.from_numpy(x.std(axis=0) + 1e-6)

    class Mlp(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mean", mean)
            self.register_buffer("std", std)
            self.layers = nn.Sequential(nn.Linear(x.shape[1], 32), nn.ReLU(), nn.Linear(32, 2))

        def forward(self, batch: torch.Tensor) -> torch.Tensor:
            return torch.softmax(self.layers((batch - self.mean) / self.std), dim=1)

    module = Mlp()
    optimiser = torch.optim.Adam(module.parameters(), lr=0.01)
    features, target = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(300):
        optimiser.zero_grad()
        loss = nn.functional.nll_loss(torch.log(module(features) + 1e-9), target)
        loss.backward()
        optimiser.step()
    module.eval()
    scripted = torch.jit.script(module)
    scripted.save(str(path))
    return scripted


def torch_scores(module: Any, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.inference_mode():
        return np.asarray(module(torch.from_numpy(x)).numpy())


def load_torchscript(path: Path) -> Any:
    import torch

    return torch.jit.load(str(path))


def existing_source(models_dir: Path) -> str | None:
    path = models_dir / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        return str(json.loads(path.read_text(encoding="utf-8")).get("source"))
    except ValueError:
        return None


def input_bound(x: np.ndarray) -> float:
    """A million times the largest magnitude seen in training, rounded up to a power of ten:
    far beyond any real input, well below where the model's float32 arithmetic overflows."""
    return float(10 ** math.ceil(math.log10(float(np.abs(x).max()) * 1e6)))


def build(models_dir: Path, model_format: str = "onnx", kind: str = "linear") -> Manifest | None:
    """Train, export, check and describe the demo model; None when a user model is present."""
    models_dir.mkdir(parents=True, exist_ok=True)
    if existing_source(models_dir) == "user":
        return None
    x_train, x_test, y_train, y_test, features = load_data()
    if model_format == "torch":
        path = models_dir / "model.pt"
        module = train_torch(x_train, y_train, path)
        reference = torch_scores(module, x_test)
        exported = torch_scores(load_torchscript(path), x_test)
    else:
        model = train_sklearn(kind, x_train, y_train)
        reference = np.asarray(model.predict_proba(x_test))
        if model_format == "onnx":
            path = models_dir / "model.onnx"
            export_onnx(model, x_train.shape[1], path)
            exported = onnx_scores(path, x_test)
        elif model_format == "sklearn":
            import skops.io

            path = models_dir / "model.skops"
            skops.io.dump(model, path)
            trusted = skops.io.get_untrusted_types(file=path)
            exported = np.asarray(skops.io.load(path, trusted=trusted).predict_proba(x_test))
        else:
            raise ValueError(f"unknown model format {model_format!r} (onnx, sklearn or torch)")
    gap = float(np.abs(reference - exported).max())
    if gap > PARITY_TOLERANCE:
        raise RuntimeError(f"exported model differs from the trained one by {gap:.2e}")
    accuracy = float((exported.argmax(axis=1) == y_test).mean())
    document: dict[str, Any] = {
        "schema_version": 1,
        "name": NAME,
        "version": VERSION,
        "framework": model_format,
        "file": path.name,
        "sha256": sha256_of(path),
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source": "demo",
        "task": "classification",
        "input": {
            "name": "input",
            "dtype": "float32",
            "shape": [None, len(features)],
            "features": features,
            "max_abs": input_bound(x_train),
        },
        "output": {"name": "probabilities", "classes": [0, 1]},
        "baseline": {"score_histogram": score_histogram(exported[:, 1]).model_dump()},
        "metrics": {"holdout_accuracy": round(accuracy, 4), "parity_max_abs_diff": gap},
    }
    manifest = Manifest.model_validate(document)
    (models_dir / MANIFEST_NAME).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    for stale in models_dir.glob("model.*"):
        if stale != path:
            stale.unlink()
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--format", default="onnx", choices=["onnx", "sklearn", "torch"])
    parser.add_argument(
        "--kind", default=os.environ.get("DEMO_MODEL", "linear"), choices=["linear", "forest"]
    )
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    args = parser.parse_args(argv)
    manifest = build(args.models_dir, args.format, args.kind)
    if manifest is None:
        print(f"{args.models_dir / MANIFEST_NAME} describes a user model; left untouched")
        return 0
    kind = "mlp" if args.format == "torch" else args.kind
    print(f"built {manifest.name} {manifest.version} ({args.format}, {kind}) -> {manifest.file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
