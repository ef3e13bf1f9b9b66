"""Build the demo model offline from a dataset that scikit-learn ships.

``python -m <package>.demo_model --format onnx|sklearn|torch [--demo NAME] [--kind KIND]``
trains a classifier, saves it for the chosen runtime, checks the saved file against the
trained model, and writes ``models/manifest.json`` with the checksum, schema and a baseline
score histogram from a held-out split. A manifest whose ``source`` is ``user`` is never
overwritten.

Every pattern shares this code; what differs is data (``DEMOS``): the services, jobs and
consumers score breast-cancer rows with a logistic regression (or a 100-tree forest); the
edge pattern classifies 8x8 digit images with a two-layer perceptron of about 300k
parameters, large enough that int8 quantization pays off on a CPU (on a model of a few
thousand parameters, quantizing the activations costs more than the smaller matrix
products save). ``linear`` and ``forest`` convert to ``ai.onnx.ml`` operators only.

With ``--format sklearn`` the model is saved with skops and also converted to ONNX: when
the two agree on the held-out rows (``onnx_conversion``), onnxruntime serves the ONNX file
and the skops file stays beside it; otherwise scikit-learn serves the skops file and the
manifest says why.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import sys
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from .inference.drift import score_histogram
from .inference.manifest import MANIFEST_NAME, Manifest, sha256_of
from .onnx_conversion import serve_as_onnx

VERSION = "1.0.0"
PARITY_TOLERANCE = 1e-4
SEED = 0


@dataclass(frozen=True)
class Demo:
    """What one pattern's demo model is: its dataset, kinds, network shape and opset."""

    name: str
    dataset: str  # a loader of sklearn.datasets
    kinds: tuple[str, ...]  # the first is the default
    hidden: tuple[int, ...]  # hidden layers of the perceptron (torch, and the mlp kind)
    epochs: int
    batch_rows: int | None  # None: full-batch training
    learning_rate: float
    opset: int | None  # ONNX opset for skl2onnx; None: the converter's newest
    # How a torch demo is saved: TorchScript (model.pt) or a torch.export program (model.pt2),
    # the input of the on-device converters (LiteRT, ExecuTorch, Core ML).
    torch_file: str = "model.pt"
    # A scikit-learn demo is also converted to ONNX and served by onnxruntime when the two
    # agree (onnx_conversion); the edge pipeline converts and checks its model itself.
    serve_as_onnx: bool = True


DEMOS = {
    "breast-cancer": Demo(
        name="breast-cancer-classifier",
        dataset="load_breast_cancer",
        kinds=("linear", "forest"),
        hidden=(32,),
        epochs=300,
        batch_rows=None,
        learning_rate=0.01,
        opset=None,
    ),
    # Older runtimes on devices read opset 17; the perceptron is sized for int8 to pay off.
    "digits": Demo(
        name="digits-classifier",
        dataset="load_digits",
        kinds=("mlp", "linear", "forest"),
        hidden=(512, 512),
        epochs=15,
        batch_rows=128,
        learning_rate=1e-3,
        opset=17,
        torch_file="model.pt2",
        serve_as_onnx=False,
    ),
}
DEFAULT_DEMO = "breast-cancer"
KINDS = ("mlp", "linear", "forest")


def demo_named(name: str) -> Demo:
    """The demo by its key (``digits``) or by the model name in its manifest."""
    for key, demo in DEMOS.items():
        if name in (key, demo.name):
            return demo
    raise ValueError(f"unknown demo {name!r} (known: {', '.join(DEMOS)})")


def load_data(
    demo: Demo = DEMOS[DEFAULT_DEMO],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """The dataset split 75/25; the held-out part is the evaluation and drift baseline."""
    import sklearn.datasets
    from sklearn.model_selection import train_test_split

    data = getattr(sklearn.datasets, demo.dataset)()
    x = data.data.astype(np.float32)
    y = data.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, random_state=SEED, stratify=y
    )
    return x_train, x_test, y_train, y_test, [str(n) for n in data.feature_names]


def train_sklearn(kind: str, x: np.ndarray, y: np.ndarray, demo: Demo) -> Any:
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
        # A few epochs suffice on these small datasets; more only cost build time.
        mlp = MLPClassifier(hidden_layer_sizes=demo.hidden, max_iter=demo.epochs, random_state=SEED)
        model = make_pipeline(StandardScaler(), mlp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(x, y)


def export_onnx(model: Any, n_features: int, path: Path, opset: int | None = None) -> None:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    onnx_model = convert_sklearn(
        model,
        initial_types=[("input", FloatTensorType([None, n_features]))],
        options={id(model): {"zipmap": False}},
        target_opset=None if opset is None else {"": opset, "ai.onnx.ml": 3},
    )
    path.write_bytes(onnx_model.SerializeToString())


def onnx_scores(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(["probabilities"], {"input": x})[0])


def train_torch(x: np.ndarray, y: np.ndarray, path: Path, demo: Demo) -> Any:
    """A perceptron with the scaling and the softmax inside, saved as TorchScript."""
    import torch
    from torch import nn

    torch.manual_seed(SEED)
    mean = torch.from_numpy(x.mean(axis=0))
    # Features that never vary in training keep a scale of 1, as StandardScaler does: dividing
    # by a tiny number would blow up any value they get later (and int8's activation range).
    spread = x.std(axis=0)
    std = torch.from_numpy(np.where(spread < 1e-3, 1.0, spread).astype(np.float32))
    widths = [x.shape[1], *demo.hidden]
    layers: list[nn.Module] = []
    for width_in, width_out in itertools.pairwise(widths):
        layers += [nn.Linear(width_in, width_out), nn.ReLU()]
    layers.append(nn.Linear(widths[-1], int(y.max()) + 1))

    class Mlp(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mean", mean)
            self.register_buffer("std", std)
            self.layers = nn.Sequential(*layers)

        def forward(self, batch: torch.Tensor) -> torch.Tensor:
            return torch.softmax(self.layers((batch - self.mean) / self.std), dim=1)

    module = Mlp()
    optimiser = torch.optim.Adam(module.parameters(), lr=demo.learning_rate)
    features, target = torch.from_numpy(x), torch.from_numpy(y)
    generator = torch.Generator().manual_seed(SEED)
    for _ in range(demo.epochs):
        order = torch.randperm(len(features), generator=generator)
        for index in order.split(demo.batch_rows or len(features)):
            optimiser.zero_grad()
            scores = module(features[index])
            loss = nn.functional.nll_loss(torch.log(scores + 1e-9), target[index])
            loss.backward()
            optimiser.step()
    module.eval()
    if path.suffix == ".pt2":
        batch = torch.export.Dim("batch")
        program = torch.export.export(module, (features[:2],), dynamic_shapes={"batch": {0: batch}})
        torch.export.save(program, str(path))
        return program.module()
    scripted = torch.jit.script(module)
    scripted.save(str(path))
    return scripted


def torch_scores(module: Any, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.inference_mode():
        return np.asarray(module(torch.from_numpy(x)).numpy())


def load_torch(path: Path) -> Any:
    import torch

    if path.suffix == ".pt2":
        return torch.export.load(str(path)).module()
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


def build(
    models_dir: Path,
    model_format: str = "onnx",
    kind: str | None = None,
    demo_name: str = DEFAULT_DEMO,
) -> Manifest | None:
    """Train, save, check and describe the demo model; None when a user model is present."""
    demo = demo_named(demo_name)
    kind = kind or demo.kinds[0]
    if kind not in demo.kinds:
        raise ValueError(f"demo {demo_name!r} has no kind {kind!r} (one of {demo.kinds})")
    models_dir.mkdir(parents=True, exist_ok=True)
    if existing_source(models_dir) == "user":
        return None
    x_train, x_test, y_train, y_test, features = load_data(demo)
    framework, described, keep = model_format, dict[str, Any](), set[Path]()
    if model_format == "torch":
        path = models_dir / demo.torch_file
        module = train_torch(x_train, y_train, path, demo)
        reference = torch_scores(module, x_test)
        exported = torch_scores(load_torch(path), x_test)
        kind = "mlp"
    else:
        model = train_sklearn(kind, x_train, y_train, demo)
        reference = np.asarray(model.predict_proba(x_test))
        if model_format == "onnx":
            path = models_dir / "model.onnx"
            export_onnx(model, x_train.shape[1], path, demo.opset)
            exported = onnx_scores(path, x_test)
        elif model_format == "sklearn":
            import skops.io

            path = models_dir / "model.skops"
            skops.io.dump(model, path)
            trusted = skops.io.get_untrusted_types(file=path)
            exported = np.asarray(skops.io.load(path, trusted=trusted).predict_proba(x_test))
            if demo.serve_as_onnx:  # at ONNX speed when the converted graph agrees
                keep.add(path)
                path, described = serve_as_onnx(model, x_test, path)
                if path.suffix == ".onnx":
                    framework, exported = "onnx", onnx_scores(path, x_test)
        else:
            raise ValueError(f"unknown model format {model_format!r} (onnx, sklearn or torch)")
    gap = float(np.abs(reference - exported).max())
    if gap > PARITY_TOLERANCE:
        raise RuntimeError(f"saved model differs from the trained one by {gap:.2e}")
    accuracy = float((exported.argmax(axis=1) == y_test).mean())
    classes = list(range(exported.shape[1]))
    # Binary: the positive class's score; more classes: the top score.
    scores = exported[:, 1] if len(classes) == 2 else exported.max(axis=1)
    document: dict[str, Any] = {
        "schema_version": 1,
        "name": demo.name,
        "version": VERSION,
        "framework": framework,
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
        "output": {"name": "probabilities", "classes": classes},
        "baseline": {"score_histogram": score_histogram(scores).model_dump()},
        "metrics": {"holdout_accuracy": round(accuracy, 4), "parity_max_abs_diff": gap},
        "demo_kind": kind,
        **described,
    }
    manifest = Manifest.model_validate(document)
    (models_dir / MANIFEST_NAME).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    for stale in models_dir.glob("model.*"):
        if stale != path and stale not in keep:
            stale.unlink()
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--format", default="onnx", choices=["onnx", "sklearn", "torch"])
    parser.add_argument("--demo", default=DEFAULT_DEMO, choices=sorted(DEMOS))
    parser.add_argument(
        "--kind",
        default=os.environ.get("DEMO_MODEL") or None,
        choices=KINDS,
        help="default: the demo's first kind",
    )
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    args = parser.parse_args(argv)
    try:
        manifest = build(args.models_dir, args.format, args.kind, args.demo)
    except ValueError as error:
        parser.error(str(error))
    if manifest is None:
        print(f"{args.models_dir / MANIFEST_NAME} describes a user model; left untouched")
        return 0
    kind = "mlp" if args.format == "torch" else (args.kind or DEMOS[args.demo].kinds[0])
    print(f"built {manifest.name} {manifest.version} ({args.format}, {kind}) -> {manifest.file}")
    document = json.loads((args.models_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    conversion = document.get("conversion") or {}
    if conversion.get("status") == "failed":
        print(f"served by scikit-learn, not ONNX: {conversion['reason']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
