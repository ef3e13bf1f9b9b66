"""Sample inputs for parity, calibration and benchmarks, with labels when there are any.

A sample file (``--sample``) wins: ``.npz`` with ``x`` (and optional ``y``), ``.npy`` with
inputs only, or ``.csv`` with a header whose columns are the features (plus an optional
``label`` column). Without one, a demo model uses the held-out split of its dataset, and
a user model gets random inputs, which prove agreement but not accuracy; the report says so.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..inference.manifest import Manifest

RANDOM_ROWS = 512
LABEL_COLUMN = "label"


@dataclass(frozen=True)
class Sample:
    x: np.ndarray
    y: np.ndarray | None
    origin: str


def load_sample(manifest: Manifest, path: Path | None) -> Sample:
    width = manifest.input.n_features
    if path is not None:
        sample = _read(path, manifest)
    elif manifest.source == "demo":
        from ..demo_model import demo_named, load_data

        _, x_test, _, y_test, _ = load_data(demo_named(manifest.name))
        sample = Sample(x_test, y_test, "held-out split of the demo dataset")
    else:
        rng = np.random.default_rng(0)
        x = rng.normal(size=(RANDOM_ROWS, width)).astype(np.float32)
        sample = Sample(x, None, f"{RANDOM_ROWS} random normal rows (no sample file given)")
    if sample.x.ndim != 2 or sample.x.shape[1] != width:
        raise ValueError(
            f"{sample.origin}: inputs have shape {sample.x.shape}, the model takes (n, {width})"
        )
    if len(sample.x) == 0:
        raise ValueError(f"{sample.origin}: no rows")
    return sample


def _read(path: Path, manifest: Manifest) -> Sample:
    if not path.is_file():
        raise ValueError(f"sample file {path} does not exist")
    origin = f"sample file {path}"
    if path.suffix == ".npz":
        with np.load(path) as data:
            if "x" not in data:
                raise ValueError(f"{path}: an .npz sample needs an array named x (and y)")
            y = np.asarray(data["y"]) if "y" in data else None
            return Sample(np.asarray(data["x"], dtype=np.float32), y, origin)
    if path.suffix == ".npy":
        return Sample(np.load(path).astype(np.float32), None, origin)
    if path.suffix == ".csv":
        return _read_csv(path, manifest, origin)
    raise ValueError(f"{path}: sample files are .npz, .npy or .csv")


def _read_csv(path: Path, manifest: Manifest, origin: str) -> Sample:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise ValueError(f"{path}: no rows")
    features = manifest.input.features or [c for c in rows[0] if c != LABEL_COLUMN]
    missing = [f for f in features if f not in rows[0]]
    if missing:
        raise ValueError(f"{path}: missing feature columns {missing[:5]}")
    x = np.array([[float(row[f]) for f in features] for row in rows], dtype=np.float32)
    y = None
    if LABEL_COLUMN in rows[0]:
        classes = manifest.output.classes
        raw = [row[LABEL_COLUMN] for row in rows]
        if classes and all(isinstance(c, int) for c in classes):
            y = np.array([int(v) for v in raw])
        else:
            y = np.array(raw)
    return Sample(x, y, origin)


def labels_as_indices(y: np.ndarray | None, classes: list[int | str] | None) -> np.ndarray | None:
    """Class indices (the argmax position) for the labels, so scores can be compared."""
    if y is None:
        return None
    if not classes:
        return y.astype(np.int64)
    position = {str(c): i for i, c in enumerate(classes)}
    try:
        return np.array([position[str(v)] for v in y.tolist()], dtype=np.int64)
    except KeyError as error:
        raise ValueError(f"sample label {error} is not one of the model's classes") from error
