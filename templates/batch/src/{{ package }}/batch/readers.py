"""Read a part as a stream of Arrow tables of bounded size, whatever the file format.

NDJSON and CSV are read in the blocks of whole lines the planner cut (``block_bytes``), and
each block is parsed on its own (polars for NDJSON, pyarrow for CSV), so memory never
depends on the file size. A block that the parser cannot read in one go (a broken line, a
string where a number belongs) is parsed line by line so that only the bad lines are
rejected. Parquet is read batch by batch.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from .columns import Columns
from .errors import CountMismatch
from .files import filesystem
from .plan import Part

RAW_LIMIT = 300


@dataclass(frozen=True)
class Reject:
    record: int
    line: int | None
    reason: str
    raw: str | None = None


@dataclass
class Chunk:
    """Parsed records (``table``: the id and feature columns) plus the records already refused.

    ``records`` holds the 1-based record number of each table row.
    """

    table: pa.Table
    records: np.ndarray
    rejects: list[Reject] = field(default_factory=list)
    line_offset: int | None = None  # line number = record + line_offset (line formats)
    block: bytes | None = None
    first: int = 0  # record number of the block's first line
    parse_s: float = 0.0  # seconds spent turning bytes into columns (the rest is reading)
    _lines: list[bytes] | None = None

    def line_of(self, record: int) -> int | None:
        return None if self.line_offset is None else record + self.line_offset

    def raw_of(self, record: int) -> str | None:
        if self.block is None:
            return None
        if self._lines is None:
            self._lines = self.block.split(b"\n")
        text = self._lines[record - self.first].decode("utf-8", "replace").rstrip("\r")
        return text[:RAW_LIMIT]


def read_part(part: Part, columns: Columns, id_type: str, block_bytes: int) -> Iterator[Chunk]:
    """The part's records chunk by chunk: the planned blocks of a line file, Parquet batches
    of about ``block_bytes`` once decoded."""
    if part.format == "parquet":
        yield from _parquet_chunks(part, columns, block_bytes)
        return
    record = part.first_record
    for block, count in _line_blocks(part):
        started = time.perf_counter()
        if part.format == "csv":
            chunk = _csv_chunk(block, count, record, part, columns, id_type)
        else:
            chunk = _json_chunk(block, count, record, columns, id_type)
        chunk.parse_s = time.perf_counter() - started
        chunk.line_offset = part.first_line - part.first_record
        chunk.block = block
        chunk.first = record
        yield chunk
        record += count
        del chunk, block  # before the next block is read: one block per thread in memory


def _line_blocks(part: Part) -> Iterator[tuple[bytes, int]]:
    """Each planned block of the part (whole lines) and its record count."""
    fs, path = filesystem(part.source)
    with fs.open_input_file(path) as handle:
        position = part.start
        for end, count in part.blocks:
            block = handle.read_at(end - position, position)
            if len(block) != end - position:
                raise CountMismatch(
                    f"{part.source}: {len(block)} bytes at offset {position}, planned "
                    f"{end - position}: the file changed during the run"
                )
            yield block, count
            del block
            position = end


def _parquet_chunks(part: Part, columns: Columns, block_bytes: int) -> Iterator[Chunk]:
    fs, path = filesystem(part.source)
    with fs.open_input_file(path) as handle:
        # read column chunks through a small buffer, not whole: about 60 MB less at 1M rows
        parquet = pq.ParquetFile(handle, buffer_size=1 << 20, pre_buffer=False)
        record = part.first_record
        rows = max(1024, block_bytes // columns.bytes_per_row())
        batches = parquet.iter_batches(
            batch_size=rows,
            row_groups=list(range(part.start, part.end)),
            columns=columns.names(),
            use_threads=False,  # one part per thread: the job's threads are the parallelism
        )
        while True:
            started = time.perf_counter()  # reading and decoding: all of it counts as parsing
            batch = next(batches, None)
            if batch is None:
                return
            numbers = np.arange(record, record + batch.num_rows, dtype=np.int64)
            table = pa.Table.from_batches([batch])
            yield Chunk(table, numbers, parse_s=time.perf_counter() - started)
            record += batch.num_rows


# ------------------------------------------------------------------------- NDJSON


def _json_chunk(block: bytes, count: int, first: int, columns: Columns, id_type: str) -> Chunk:
    schema = columns.schema(id_type)
    table = parse_ndjson(block, schema)
    if table is not None and table.num_rows == count:
        return Chunk(table, np.arange(first, first + count, dtype=np.int64))
    return _json_lines(block, first, columns, schema)


def parse_ndjson(block: bytes, schema: pa.Schema) -> pa.Table | None:
    """The block's records with ``schema``'s columns, or None when any line is not clean
    (then the caller parses line by line). polars tokenises NDJSON about 1.7x faster than
    pyarrow's JSON reader, so it is used when installed; both give the same values."""
    polars = _polars()
    if polars is None:
        try:
            table = pajson.read_json(
                pa.BufferReader(pa.py_buffer(block)),
                read_options=pajson.ReadOptions(use_threads=False, block_size=len(block) + 1),
                parse_options=pajson.ParseOptions(
                    explicit_schema=schema, unexpected_field_behavior="ignore"
                ),
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
        return table.select(schema.names)
    wanted = {f.name: _polars_type(polars, f.type) for f in schema}
    try:
        frame = polars.read_ndjson(block, schema=wanted)
    except polars.exceptions.PolarsError:
        return None
    return frame.to_arrow().select(schema.names).cast(schema)


def _polars_type(polars: Any, kind: pa.DataType) -> Any:
    if pa.types.is_list(kind):
        return polars.List(polars.Float64)
    if pa.types.is_integer(kind):
        return polars.Int64
    return polars.Float64 if pa.types.is_floating(kind) else polars.String


def parser_threads(count: int) -> None:
    """Size polars' thread pool before its first use: it parses the blocks of every scoring
    thread, so it needs as many threads as they are (POLARS_MAX_THREADS set by the user wins)."""
    if "polars" not in sys.modules:
        os.environ.setdefault("POLARS_MAX_THREADS", str(max(1, count)))


def parse_ndjson_ready() -> bool:
    """Import the NDJSON parser now (it takes a few tenths of a second); True if polars."""
    return _polars() is not None


@functools.cache
def _polars() -> Any:
    """polars (one thread unless :func:`parser_threads` said otherwise), or None."""
    os.environ.setdefault("POLARS_MAX_THREADS", "1")
    try:
        import polars
    except ImportError:
        return None
    return polars


def _json_lines(block: bytes, first: int, columns: Columns, schema: pa.Schema) -> Chunk:
    """The slow path: one line at a time, so that a bad line costs only itself."""
    names = columns.names()
    as_int = pa.types.is_integer(schema.field(0).type)
    values: dict[str, list[Any]] = {name: [] for name in names}
    records: list[int] = []
    rejects: list[Reject] = []
    lines = block.split(b"\n")
    if block.endswith(b"\n"):
        lines.pop()
    for offset, line in enumerate(lines):
        record = first + offset
        reason, row = _parse_record(line, columns, as_int)
        if reason:
            rejects.append(Reject(record, None, reason, _raw(line)))
            continue
        records.append(record)
        for name, value in zip(names, row, strict=True):
            values[name].append(value)
    table = pa.table({name: pa.array(values[name], schema.field(name).type) for name in names})
    return Chunk(table, np.asarray(records, dtype=np.int64), rejects)


def _parse_record(line: bytes, columns: Columns, as_int: bool) -> tuple[str | None, list[Any]]:
    if not line.strip():
        return "empty line", []
    try:
        record = json.loads(line)
    except ValueError as error:
        return f"unparseable JSON: {error}", []
    if not isinstance(record, dict):
        return f"not a JSON object (got {type(record).__name__})", []
    id_column = columns.id_column
    key = record.get(id_column)
    if key is None:
        return f"missing id {id_column!r}", []
    if as_int and (isinstance(key, bool) or not isinstance(key, int)):
        return f"id {id_column!r}: expected an integer, got {key!r}"[:200], []
    if not as_int and not isinstance(key, str):
        if isinstance(key, (dict, list)):
            return f"id {id_column!r}: expected a scalar", []
        key = json.dumps(key)
    if columns.array is not None:
        reason, vector = _vector(record.get(columns.array), columns.array)
        return reason, [key, vector]
    row: list[Any] = [key]
    for name in columns.features:
        value = record.get(name)
        if value is not None and not _is_number(value):
            return f"feature {name!r}: not a number ({type(value).__name__})", []
        row.append(None if value is None else float(value))
    return None, row


def _vector(value: Any, name: str) -> tuple[str | None, list[float | None] | None]:
    """A feature array as floats (None for a null element); its length and values are
    checked with the rest of the block."""
    if value is None:
        return None, None
    if not isinstance(value, list):
        return f"feature column {name!r}: not a list ({type(value).__name__})", None
    for index, item in enumerate(value):
        if item is not None and not _is_number(item):
            return f"feature column {name!r}[{index}]: not a number ({type(item).__name__})", None
    return None, [None if item is None else float(item) for item in value]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _raw(line: bytes) -> str:
    return line.decode("utf-8", "replace").rstrip("\r")[:RAW_LIMIT]


# ------------------------------------------------------------------------- CSV


def _csv_chunk(
    block: bytes, count: int, first: int, part: Part, columns: Columns, id_type: str
) -> Chunk:
    """Numbers parsed as numbers by pyarrow; a block with a value that is not one is read
    again as text, so that validation can name the value."""
    try:
        table, invalid = _read_csv(block, part, columns, columns.schema(id_type))
    except pa.ArrowInvalid:
        text = pa.schema([pa.field(name, pa.string()) for name in columns.names()])
        table, invalid = _read_csv(block, part, columns, text)
    rejects = [
        Reject(first + number - 1, None, f"expected {len(part.header)} fields", text[:RAW_LIMIT])
        for number, text in invalid
    ]
    numbers = np.arange(first, first + count, dtype=np.int64)
    if invalid:
        numbers = np.delete(numbers, [number - 1 for number, _ in invalid])
    if len(numbers) != table.num_rows:
        raise CountMismatch(
            f"{part.source}: lines {part.first_line + first - part.first_record}... gave "
            f"{table.num_rows} rows and {len(invalid)} invalid rows for {count} lines",
            hint="CSV values with line breaks inside quotes are not supported; use NDJSON or "
            "Parquet for such data",
        )
    return Chunk(table, numbers, rejects)


def _read_csv(
    block: bytes, part: Part, columns: Columns, schema: pa.Schema
) -> tuple[pa.Table, list[tuple[int, str]]]:
    """The block's columns with ``schema``'s types (only empty cells are missing), and the
    rows with the wrong number of fields (line within the block, text)."""
    invalid: list[tuple[int, str]] = []

    def on_invalid(row: Any) -> str:
        invalid.append((row.number, row.text))
        return "skip"

    table = pacsv.read_csv(
        pa.BufferReader(pa.py_buffer(block)),
        read_options=pacsv.ReadOptions(column_names=list(part.header), use_threads=False),
        parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid, ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(
            include_columns=columns.names(),
            column_types={field.name: field.type for field in schema},
            null_values=[""],
            strings_can_be_null=True,
        ),
    )
    return table, invalid
