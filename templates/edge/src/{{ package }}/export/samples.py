"""Sample inputs for parity, calibration and benchmarks, with labels when there are any.

A sample file (``--sample``) wins: ``.npz`` with ``x`` (and optional ``y``), ``.npy`` with
inputs only, or ``.csv`` with a header whose columns are the features (plus an optional
``label`` column). Without one, a demo model uses the held-out split of its dataset, and
a user model gets random inputs, which prove agreement but not accuracy; the report says so.

Static int8 calibration never sees an evaluation row: a demo model calibrates on rows of
its training split, a sample file gives its last rows to calibration and the rest to
evaluation, and random inputs draw a separate set; any calibration row equal to an
evaluation row is dropped, so the accuracy of a calibrated variant is measured on unseen rows.
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
    calibration: np.ndarray | None = None
    calibration_origin: str = ""


def load_sample(manifest: Manifest, path: Path | None, calibration_rows: int = 200) -> Sample:
    """Evaluation rows (with labels when known) and disjoint calibration rows."""
    width = manifest.input.n_features
    if path is not None:
        sample = _split(_read(path, manifest), calibration_rows)
    elif manifest.source == "demo":
        from ..demo_model import demo_named, load_data

        x_train, x_test, _, y_test, _ = load_data(demo_named(manifest.name))
        order = np.random.default_rng(0).permutation(len(x_train))[:calibration_rows]
        sample = Sample(
            x_test,
            y_test,
            "held-out split of the demo dataset",
            x_train[order],
            "rows of the demo dataset's training split",
        )
    else:
        rng = np.random.default_rng(0)
        x = rng.normal(size=(RANDOM_ROWS, width)).astype(np.float32)
        calibration = np.random.default_rng(1).normal(size=(calibration_rows, width))
        sample = Sample(
            x,
            None,
            f"{RANDOM_ROWS} random normal rows (no sample file given)",
            calibration.astype(np.float32),
            "a separate draw of random normal rows",
        )
    if sample.x.ndim != 2 or sample.x.shape[1] != width:
        raise ValueError(
            f"{sample.origin}: inputs have shape {sample.x.shape}, the model takes (n, {width})"
        )
    if len(sample.x) == 0:
        raise ValueError(f"{sample.origin}: no rows")
    return _disjoint(sample)


def _split(sample: Sample, calibration_rows: int) -> Sample:
    """The last rows of a sample file calibrate; the others (at least half) evaluate."""
    if len(sample.x) < 2:
        return Sample(sample.x, sample.y, sample.origin, sample.x[:0], "none (one row)")
    count = min(calibration_rows, len(sample.x) // 2)
    keep = len(sample.x) - count
    return Sample(
        sample.x[:keep],
        None if sample.y is None else sample.y[:keep],
        f"{sample.origin} (first {keep} rows)",
        sample.x[keep:],
        f"the last {count} rows of {sample.origin}",
    )


def _disjoint(sample: Sample) -> Sample:
    """Drop calibration rows that also occur among the evaluation rows."""
    if sample.calibration is None or len(sample.calibration) == 0:
        return sample
    seen = {row.tobytes() for row in np.ascontiguousarray(sample.x, dtype=np.float32)}
    rows = np.ascontiguousarray(sample.calibration, dtype=np.float32)
    kept = rows[[row.tobytes() not in seen for row in rows]]
    return Sample(sample.x, sample.y, sample.origin, kept, sample.calibration_origin)


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
