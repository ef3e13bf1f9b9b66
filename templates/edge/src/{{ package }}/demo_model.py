"""Build the edge demo model offline from scikit-learn's bundled handwritten-digits dataset.

``python -m <package>.demo_model --format onnx|sklearn|torch [--kind mlp|linear|forest]``
trains a classifier of 8x8 digit images (64 features, 10 classes), saves it for the chosen
runtime, checks the saved file against the trained model, and writes ``models/manifest.json``.

The default is a two-layer perceptron of about 300k parameters: large enough that int8
quantization pays off on a CPU (a model of a few thousand parameters gets slower, because
quantizing the activations costs more than the smaller matrix products save). ``linear``
and ``forest`` convert to ``ai.onnx.ml`` operators only, which is the case where dynamic
quantization has nothing to do. A manifest whose ``source`` is ``user`` is never overwritten.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from .inference.drift import score_histogram
from .inference.manifest import MANIFEST_NAME, Manifest, sha256_of

NAME = "digits-classifier"
VERSION = "1.0.0"
PARITY_TOLERANCE = 1e-4
SEED = 0
HIDDEN = (512, 512)
KINDS = ("mlp", "linear", "forest")
ONNX_OPSET = 17  # the export's default; older runtimes on devices read it


def load_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """The digits dataset split 75/25; the held-out part is the export's sample data."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = data.data.astype(np.float32)
    y = data.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, random_state=SEED, stratify=y
    )
    return x_train, x_test, y_train, y_test, [str(n) for n in data.feature_names]


def train_sklearn(kind: str, x: np.ndarray, y: np.ndarray) -> Any:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "forest":
        model: Any = RandomForestClassifier(n_estimators=100, random_state=SEED, n_jobs=1)
    elif kind == "linear":
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    else:
        # A few epochs suffice on this small dataset; more only cost build time.
        mlp = MLPClassifier(hidden_layer_sizes=HIDDEN, max_iter=15, random_state=SEED)
        model = make_pipeline(StandardScaler(), mlp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(x, y)


def export_onnx(model: Any, n_features: int, path: Path) -> None:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    onnx_model = convert_sklearn(
        model,
        initial_types=[("input", FloatTensorType([None, n_features]))],
        options={id(model): {"zipmap": False}},
        target_opset={"": ONNX_OPSET, "ai.onnx.ml": 3},
    )
    path.write_bytes(onnx_model.SerializeToString())


def onnx_scores(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(["probabilities"], {"input": x})[0])


def train_torch(x: np.ndarray, y: np.ndarray, path: Path) -> Any:
    """The same perceptron in PyTorch, scaling and softmax inside, saved as TorchScript."""
    import torch
    from torch import nn

    torch.manual_seed(SEED)
    mean = torch.from_numpy(x.mean(axis=0))
    # Pixels that never vary in training keep a scale of 1, as StandardScaler does: dividing
    # by a tiny number would blow up any ink they get later (and int8's activation range).
    spread = x.std(axis=0)
    std = torch.from_numpy(np.where(spread < 1e-3, 1.0, spread).astype(np.float32))

    class DigitsMlp(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mean", mean)
            self.register_buffer("std", std)
            self.layers = nn.Sequential(
                nn.Linear(x.shape[1], HIDDEN[0]),
                nn.ReLU(),
                nn.Linear(HIDDEN[0], HIDDEN[1]),
                nn.ReLU(),
                nn.Linear(HIDDEN[1], 10),
            )

        def forward(self, batch: torch.Tensor) -> torch.Tensor:
            return torch.softmax(self.layers((batch - self.mean) / self.std), dim=1)

    module = DigitsMlp()
    optimiser = torch.optim.Adam(module.parameters(), lr=1e-3)
    features, target = torch.from_numpy(x), torch.from_numpy(y)
    generator = torch.Generator().manual_seed(SEED)
    for _ in range(15):
        for index in torch.randperm(len(features), generator=generator).split(128):
            optimiser.zero_grad()
            scores = module(features[index])
            loss = nn.functional.nll_loss(torch.log(scores + 1e-9), target[index])
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


def build(models_dir: Path, model_format: str = "onnx", kind: str = "mlp") -> Manifest | None:
    """Train, save, check and describe the demo model; None when a user model is present."""
    models_dir.mkdir(parents=True, exist_ok=True)
    if existing_source(models_dir) == "user":
        return None
    x_train, x_test, y_train, y_test, features = load_data()
    if model_format == "torch":
        path = models_dir / "model.pt"
        module = train_torch(x_train, y_train, path)
        reference = torch_scores(module, x_test)
        exported = torch_scores(load_torchscript(path), x_test)
        kind = "mlp"
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
        raise RuntimeError(f"saved model differs from the trained one by {gap:.2e}")
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
        },
        "output": {"name": "probabilities", "classes": list(range(10))},
        "baseline": {"score_histogram": score_histogram(exported.max(axis=1)).model_dump()},
        "metrics": {"holdout_accuracy": round(accuracy, 4), "parity_max_abs_diff": gap},
        "demo_kind": kind,
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
    parser.add_argument("--kind", default=os.environ.get("DEMO_MODEL", "mlp"), choices=KINDS)
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
