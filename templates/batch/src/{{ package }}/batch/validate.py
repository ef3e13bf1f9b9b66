"""Turn a parsed table into a float32 feature matrix, refusing bad rows with a reason.

Every check is vectorised over the table; reasons are spelled out only for the rows that
fail, so clean data costs a few array operations per column.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .columns import Columns, is_list

_FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class Valid:
    ids: pa.Array
    features: np.ndarray  # float32, rows x features
    keep: np.ndarray  # bool mask over the table's rows
    reasons: dict[int, str]  # table row index -> why it was refused


def validate(table: pa.Table, columns: Columns, id_type: str) -> Valid:
    return _clean(table, columns, id_type) or _checked(table, columns, id_type)


def _clean(table: pa.Table, columns: Columns, id_type: str) -> Valid | None:
    """The fast path for a block without a single problem; None when it has any."""
    ids = table.column(columns.id_column)
    if ids.null_count or ids.type != pa.type_for_alias(id_type):
        return None
    if columns.array is not None:
        matrix = _clean_array(table.column(columns.array), columns.width)
        if matrix is None:
            return None
    else:
        features = [table.column(name) for name in columns.features]
        if any(c.type != pa.float64() or c.null_count for c in features):
            return None
        matrix = np.empty((table.num_rows, columns.width), dtype=np.float32)
        with np.errstate(over="ignore", invalid="ignore"):  # out of range shows up as inf
            for index, column in enumerate(features):
                matrix[:, index] = column.to_numpy()
    with np.errstate(over="ignore", invalid="ignore"):
        if not np.isfinite(matrix).all():
            return None
    keep = np.ones(table.num_rows, dtype=bool)
    return Valid(ids.combine_chunks(), matrix, keep, {})


def _clean_array(column: pa.ChunkedArray, width: int) -> np.ndarray | None:
    """rows x width float32 from a list column whose every row has ``width`` numbers."""
    column = column.combine_chunks()
    if not is_list(column.type) or column.null_count:
        return None
    kind = column.type.value_type
    if not (pa.types.is_floating(kind) or pa.types.is_integer(kind)):
        return None
    if len(column) and not (pc.list_value_length(column).to_numpy() == width).all():
        return None
    values = column.flatten()
    if values.null_count:
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        return values.to_numpy().astype(np.float32, copy=False).reshape(len(column), width)


def _checked(table: pa.Table, columns: Columns, id_type: str) -> Valid:
    rows = table.num_rows
    reasons: dict[int, str] = {}
    id_column = columns.id_column
    ids = _ids(table.column(id_column).combine_chunks(), id_column, id_type, reasons)
    if columns.array is not None:
        column = table.column(columns.array).combine_chunks()
        matrix, problems = _array_values(column, columns.array, columns.width)
        for row, problem in problems.items():
            reasons.setdefault(row, problem)
    else:
        matrix = np.empty((rows, columns.width), dtype=np.float64)
        for index, name in enumerate(columns.features):
            values, problems = _numbers(table.column(name).combine_chunks(), f"feature {name!r}")
            matrix[:, index] = values
            for row, problem in problems.items():
                reasons.setdefault(row, problem)
    keep = np.ones(rows, dtype=bool)
    if reasons:
        keep[list(reasons)] = False
    kept = matrix[keep] if reasons else matrix
    return Valid(
        ids.filter(pa.array(keep)) if reasons else ids, kept.astype(np.float32), keep, reasons
    )


def _array_values(column: pa.Array, name: str, width: int) -> tuple[np.ndarray, dict[int, str]]:
    """float64 rows x width (NaN where unusable) from a list column, and each bad row's problem."""
    rows = len(column)
    matrix = np.full((rows, width), np.nan)
    what = f"feature column {name!r}"
    if not is_list(column.type):
        return matrix, dict.fromkeys(range(rows), f"{what}: not a list of numbers ({column.type})")
    problems: dict[int, str] = {}
    lengths = pc.fill_null(pc.list_value_length(column), -1).to_numpy(zero_copy_only=False)
    for row in np.flatnonzero(lengths == -1):
        problems[int(row)] = f"{what}: missing"
    for row in np.flatnonzero((lengths != width) & (lengths != -1)):
        problems[int(row)] = f"{what}: {lengths[row]} values, expected {width}"
    whole = lengths == width
    if whole.any():
        values, bad = _numbers(column.filter(pa.array(whole)).flatten(), what)
        matrix[whole] = values.reshape(-1, width)
        positions = np.flatnonzero(whole)
        for flat, problem in bad.items():
            row, index = divmod(flat, width)
            problems.setdefault(int(positions[row]), problem.replace(what, f"{what}[{index}]", 1))
    return matrix, problems


def _ids(column: pa.Array, name: str, id_type: str, reasons: dict[int, str]) -> pa.Array:
    target = pa.type_for_alias(id_type)
    for row in np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False)):
        reasons.setdefault(int(row), f"missing id {name!r}")
    if column.type == target:
        return column
    try:
        return column.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        values = column.to_pylist()
        cleaned = []
        for row, value in enumerate(values):
            parsed = _as_id(value, target)
            if parsed is None and value is not None:
                reasons.setdefault(
                    row, f"id {name!r}: cannot be read as {id_type} ({value!r})"[:200]
                )
            cleaned.append(parsed)
        return pa.array(cleaned, target)


def _as_id(value: object, target: pa.DataType) -> object:
    if value is None:
        return None
    if pa.types.is_integer(target):
        try:
            return int(str(value).strip())
        except ValueError:
            return None
    return str(value)


def _numbers(column: pa.Array, what: str) -> tuple[np.ndarray, dict[int, str]]:
    """float64 values (NaN where unusable) and the problem of each bad value; ``what`` names
    the values in messages (feature 'x')."""
    problems: dict[int, str] = {}
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        try:
            column = column.cast(pa.float64())
        except pa.ArrowInvalid:
            column = _parse_strings(column, what, problems)
    elif pa.types.is_boolean(kind):
        for row in np.flatnonzero(column.is_valid().to_numpy(zero_copy_only=False)):
            problems[int(row)] = f"{what}: not a number (bool)"
        column = pa.nulls(len(column), pa.float64())
    elif pa.types.is_null(kind):
        column = pa.nulls(len(column), pa.float64())
    elif not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)):
        return np.full(len(column), np.nan), dict.fromkeys(
            range(len(column)), f"{what}: not a number ({kind})"
        )
    elif kind != pa.float64():
        column = column.cast(pa.float64())
    missing = column.is_null().to_numpy(zero_copy_only=False)
    values = pc.fill_null(column, np.nan).to_numpy(zero_copy_only=False)
    for row in np.flatnonzero(missing):
        problems.setdefault(int(row), f"{what}: missing")
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(values)
        bad = ~finite & ~missing
        large = finite & (np.abs(values) > _FLOAT32_MAX)
    for row in np.flatnonzero(bad):
        problems.setdefault(int(row), f"{what}: not a finite number ({values[row]})")
    for row in np.flatnonzero(large):
        problems.setdefault(int(row), f"{what}: out of float32 range")
    return values, problems


def _parse_strings(column: pa.Array, what: str, problems: dict[int, str]) -> pa.Array:
    parsed: list[float | None] = []
    for row, text in enumerate(column.to_pylist()):
        if text is None:
            parsed.append(None)
            continue
        try:
            parsed.append(float(text))
        except ValueError:
            problems[row] = f"{what}: not a number ({text[:40]!r})"
            parsed.append(float("nan"))
    return pa.array(parsed, pa.float64())
