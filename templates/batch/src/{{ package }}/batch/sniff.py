"""What an input file's header, schema or first records say before any part is scored: the
type of the id, and whether the model's columns are there in the layout the run expects.

A file that lacks them stops the run at once with a message naming the columns (and the
``--feature-column`` to pass when the features come as one array), instead of rejecting
every record one by one.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .columns import Columns, is_list
from .errors import JobConfigError
from .files import filesystem, read_head

_SNIFF_LINES = 100
_SHOWN = 5


def csv_header(source: str) -> tuple[tuple[str, ...], int]:
    """The column names of a CSV file and the byte offset of its first record."""
    head = read_head(source)
    end = head.find(b"\n")
    if not head.strip() or end < 0:
        raise JobConfigError(f"input: {source} has no CSV header line")
    line = head[:end].decode("utf-8-sig").rstrip("\r")
    return tuple(h.strip().strip('"') for h in line.split(",")), end + 1


def parquet_schema(source: str) -> pa.Schema:
    fs, path = filesystem(source)
    with fs.open_input_file(path) as handle:
        schema: pa.Schema = pq.ParquetFile(handle).schema_arrow
    return schema


def head_records(source: str) -> list[dict[str, Any]]:
    """The JSON objects among the first lines of an NDJSON file (bad lines skipped)."""
    records = []
    for line in read_head(source).splitlines()[:_SNIFF_LINES]:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def check_columns(source: str, fmt: str, names: list[str], columns: Columns) -> None:
    """A CSV or Parquet file must have the id and feature columns (or the array column)."""
    if columns.array is not None and fmt == "csv":
        raise JobConfigError(
            f"input: {source}: a CSV file has one column per feature, not an array column",
            hint="drop --feature-column (APP_FEATURE_COLUMN) for CSV input, or use NDJSON or "
            "Parquet",
        )
    missing = [c for c in columns.names() if c not in names]
    if not missing:
        if columns.array is not None:
            kind = parquet_schema(source).field(columns.array).type
            if not is_list(kind):
                raise JobConfigError(
                    f"input: {source}: column {columns.array!r} is {kind}, not a list of numbers"
                )
        return
    shown = ", ".join(map(repr, missing[:_SHOWN]))
    more = f" and {len(missing) - _SHOWN} more" if len(missing) > _SHOWN else ""
    lists = [f.name for f in parquet_schema(source) if is_list(f.type)] if fmt == "parquet" else []
    raise JobConfigError(
        f"input: {source} lacks column(s) {shown}{more}",
        hint=_layout_hint(columns, lists),
    )


def check_records(source: str, columns: Columns, records: list[dict[str, Any]]) -> None:
    """The first NDJSON records must carry some of the model's features, in the layout the run
    reads; otherwise every record would be rejected."""
    if not records:
        return
    if columns.array is not None:
        if any(columns.array in record for record in records):
            return
        raise JobConfigError(
            f"input: none of the first {len(records)} records of {source} has the feature "
            f"column {columns.array!r}",
            hint=_layout_hint(Columns(columns.id_column, columns.features), _lists(records)),
        )
    if any(name in record for record in records for name in columns.features):
        return
    raise JobConfigError(
        f"input: none of the first {len(records)} records of {source} has any of the model's "
        f"features (e.g. {columns.features[0]!r})",
        hint=_layout_hint(columns, _lists(records)),
    )


def _lists(records: list[dict[str, Any]]) -> list[str]:
    return sorted({key for record in records for key, v in record.items() if isinstance(v, list)})


def _layout_hint(columns: Columns, lists: list[str]) -> str:
    if columns.array is None and lists:
        return (
            f"the features look like one array column ({lists[0]!r}): pass --feature-column "
            f"{lists[0]} (APP_FEATURE_COLUMN)"
        )
    return "the model's features are listed in models/manifest.json (input.features)"


def id_type_of(source: str, fmt: str, id_column: str, header: list[str]) -> str | None:
    """int64 when the first records carry integer ids, string otherwise; None if none seen."""
    if fmt == "parquet":
        kind = parquet_schema(source).field(id_column).type
        return "int64" if pa.types.is_integer(kind) else "string"
    values: list[Any] = []
    if fmt == "ndjson":
        values = [r[id_column] for r in head_records(source) if r.get(id_column) is not None]
    elif id_column in header:
        column = header.index(id_column)
        for line in read_head(source).splitlines()[1:_SNIFF_LINES]:
            cells = line.decode("utf-8", "replace").split(",")
            if len(cells) > column and cells[column].strip():
                values.append(cells[column].strip().strip('"'))
    if not values:
        return None
    if all(_is_int(v) for v in values):
        return "int64"
    return "string"


def _is_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    if isinstance(value, str):
        text = value.strip()
        digits = text.lstrip("+-")
        # "007" is a code, not a number: reading it as 7 would break joins on the id
        return digits.isdigit() and len(digits) < 19 and not (len(digits) > 1 and digits[0] == "0")
    return False
