"""Generate sample input for the job (NDJSON, CSV or Parquet), with bad records on demand:
one column per feature, or (NDJSON and Parquet) one array column holding them all.

Rows of the demo model come from scikit-learn's breast-cancer data with a little noise
when scikit-learn is installed; otherwise, and for other models, from a standard normal.
The same seed always gives the same file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..inference import Manifest

_CHUNK_ROWS = 50_000
BAD_KINDS = ("unparseable", "missing", "text", "nan", "null_id")


def base_rows(manifest: Manifest, rng: np.random.Generator) -> np.ndarray:
    width = manifest.input.n_features
    if manifest.source == "demo":
        try:
            from sklearn.datasets import load_breast_cancer

            data = load_breast_cancer().data
            if data.shape[1] == width:
                return np.asarray(data, dtype=np.float64)
        except ImportError:
            pass
    return rng.standard_normal((256, width))


def generate(
    manifest: Manifest,
    features: list[str],
    path: Path,
    rows: int,
    fmt: str,
    bad_rows: int = 0,
    seed: int = 0,
    feature_column: str | None = None,
) -> dict[int, str]:
    """Write ``rows`` records with ids 0..rows-1; return {id: kind} of the bad ones.
    With ``feature_column`` the features are one array (a fixed-size list in Parquet)."""
    if feature_column is not None and fmt == "csv":
        raise ValueError("CSV input has one column per feature: no feature_column")
    rng = np.random.default_rng(seed)
    base = base_rows(manifest, rng)
    kinds = BAD_KINDS if fmt != "parquet" else ("missing", "nan", "null_id")
    picked = rng.choice(rows, size=min(bad_rows, rows), replace=False) if bad_rows else []
    bad = {int(i): kinds[n % len(kinds)] for n, i in enumerate(sorted(int(i) for i in picked))}
    path.parent.mkdir(parents=True, exist_ok=True)
    if feature_column is not None:
        writer: _Writer = _ARRAY_WRITERS[fmt](path, feature_column, len(features))
    else:
        writer = _WRITERS[fmt](path, features)
    try:
        for start in range(0, rows, _CHUNK_ROWS):
            count = min(_CHUNK_ROWS, rows - start)
            picks = rng.integers(0, len(base), count)
            values = base[picks] * (1 + 0.05 * rng.standard_normal((count, base.shape[1])))
            writer.write(np.arange(start, start + count), np.round(values, 5), bad)
    finally:
        writer.close()
    return bad


class _Ndjson:
    def __init__(self, path: Path, features: list[str]) -> None:
        self.features = features
        self.handle = path.open("w", encoding="utf-8")
        names = ", ".join(f"{json.dumps(name)}: %r" for name in features)
        self.template = '{"id": %d, ' + names + "}\n"

    def write(self, ids: np.ndarray, values: np.ndarray, bad: dict[int, str]) -> None:
        template = self.template
        lines = []
        for key, row in zip(ids.tolist(), values.tolist(), strict=True):
            if key in bad:
                lines.append(self._bad(key, row, bad[key]))
            else:
                lines.append(template % (key, *row))
        self.handle.write("".join(lines))

    def _bad(self, key: int, row: list[float], kind: str) -> str:
        record: dict[str, object] = {"id": key, **dict(zip(self.features, row, strict=True))}
        if kind == "unparseable":
            return json.dumps(record)[:-7] + "\n"
        if kind == "missing":
            del record[self.features[-1]]
        elif kind == "text":
            record[self.features[0]] = "n/a"
        elif kind == "nan":
            record[self.features[1]] = float("nan")
        elif kind == "null_id":
            record["id"] = None
        return json.dumps(record) + "\n"

    def close(self) -> None:
        self.handle.close()


class _Csv:
    def __init__(self, path: Path, features: list[str]) -> None:
        self.features = features
        self.handle = path.open("w", encoding="utf-8")
        self.handle.write(",".join(["id", *(_csv_name(f) for f in features)]) + "\n")

    def write(self, ids: np.ndarray, values: np.ndarray, bad: dict[int, str]) -> None:
        lines = []
        for key, row in zip(ids.tolist(), values.tolist(), strict=True):
            cells = [str(key), *map(repr, row)]
            kind = bad.get(key)
            if kind == "unparseable":
                cells = cells[:-3]  # too few fields
            elif kind == "missing":
                cells[-1] = ""
            elif kind == "text":
                cells[1] = "n/a"
            elif kind == "nan":
                cells[2] = "nan"
            elif kind == "null_id":
                cells[0] = ""
            lines.append(",".join(cells) + "\n")
        self.handle.write("".join(lines))

    def close(self) -> None:
        self.handle.close()


def _csv_name(name: str) -> str:
    return f'"{name}"' if "," in name or '"' in name else name


class _Parquet:
    def __init__(self, path: Path, features: list[str]) -> None:
        self.features = features
        schema = pa.schema(
            [pa.field("id", pa.int64())] + [pa.field(f, pa.float64()) for f in features]
        )
        self.writer = pq.ParquetWriter(path, schema)

    def write(self, ids: np.ndarray, values: np.ndarray, bad: dict[int, str]) -> None:
        no_id = np.zeros(len(ids), dtype=bool)
        no_last = np.zeros(len(ids), dtype=bool)
        values = values.copy()
        for position, key in enumerate(ids.tolist()):
            kind = bad.get(key)
            if kind == "missing":
                no_last[position] = True
            elif kind == "nan":
                values[position, 1] = np.nan
            elif kind == "null_id":
                no_id[position] = True
        last = len(self.features) - 1
        columns = {"id": pa.array(ids.astype(np.int64), mask=no_id)}
        for index, name in enumerate(self.features):
            mask = no_last if index == last else None
            columns[name] = pa.array(values[:, index], pa.float64(), mask=mask)
        self.writer.write_table(pa.table(columns))

    def close(self) -> None:
        self.writer.close()


class _NdjsonArray:
    def __init__(self, path: Path, column: str, width: int) -> None:
        self.handle = path.open("w", encoding="utf-8")
        self.prefix = '{"id": %d, ' + json.dumps(column) + ": ["
        self.column = column
        self.row = ", ".join(["%r"] * width) + "]}\n"

    def write(self, ids: np.ndarray, values: np.ndarray, bad: dict[int, str]) -> None:
        template = self.prefix + self.row
        lines = []
        for key, row in zip(ids.tolist(), values.tolist(), strict=True):
            if key in bad:
                lines.append(self._bad(key, row, bad[key]))
            else:
                lines.append(template % (key, *row))
        self.handle.write("".join(lines))

    def _bad(self, key: int, row: list[object], kind: str) -> str:
        record: dict[str, object] = {"id": key, self.column: row}
        if kind == "unparseable":
            return json.dumps(record)[:-7] + "\n"
        if kind == "missing":
            row.pop()  # one value short
        elif kind == "text":
            row[0] = "n/a"
        elif kind == "nan":
            row[1] = float("nan")
        elif kind == "null_id":
            record["id"] = None
        return json.dumps(record) + "\n"

    def close(self) -> None:
        self.handle.close()


class _ParquetArray:
    def __init__(self, path: Path, column: str, width: int) -> None:
        self.column = column
        self.width = width
        kind = pa.list_(pa.float64(), width)
        self.schema = pa.schema([pa.field("id", pa.int64()), pa.field(column, kind)])
        self.writer = pq.ParquetWriter(path, self.schema)

    def write(self, ids: np.ndarray, values: np.ndarray, bad: dict[int, str]) -> None:
        no_id = np.zeros(len(ids), dtype=bool)
        no_list = np.zeros(len(ids), dtype=bool)
        values = values.copy()
        for position, key in enumerate(ids.tolist()):
            kind = bad.get(key)
            if kind == "missing":
                no_list[position] = True
            elif kind == "nan":
                values[position, 1] = np.nan
            elif kind == "null_id":
                no_id[position] = True
        flat = pa.array(values.reshape(-1), pa.float64())
        arrays = pa.FixedSizeListArray.from_arrays(flat, self.width, mask=pa.array(no_list))
        columns = [pa.array(ids.astype(np.int64), mask=no_id), arrays]
        self.writer.write_table(pa.Table.from_arrays(columns, schema=self.schema))

    def close(self) -> None:
        self.writer.close()


class _Writer(Protocol):
    def write(self, ids: np.ndarray, values: np.ndarray, bad: dict[int, str]) -> None: ...

    def close(self) -> None: ...


_WRITERS: dict[str, Callable[[Path, list[str]], _Writer]] = {
    "ndjson": _Ndjson,
    "csv": _Csv,
    "parquet": _Parquet,
}
_ARRAY_WRITERS: dict[str, Callable[[Path, str, int], _Writer]] = {
    "ndjson": _NdjsonArray,
    "parquet": _ParquetArray,
}
