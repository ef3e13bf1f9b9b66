"""Split the input into parts: the unit of parallel work, of resume and of audit.

One pass over each file counts its records
independently of the parser (so the counts can be reconciled) and cuts line-oriented files
at newlines every ``part_bytes``. Parquet files are cut at row-group boundaries.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from .columns import Columns
from .errors import JobConfigError
from .files import filesystem
from .sniff import check_columns, check_records, csv_header, head_records, id_type_of

FORMATS = {".ndjson": "ndjson", ".jsonl": "ndjson", ".json": "ndjson", ".csv": "csv"}
FORMATS[".parquet"] = "parquet"
_SCAN = 1 << 20  # bytes read at once when counting and hashing: memory, not speed
_NEWLINE = ord("\n")


@dataclass(frozen=True)
class InputFile:
    source: str
    format: str
    bytes: int
    sha256: str  # filled in by Checksums at the end of the run
    records: int


@dataclass(frozen=True)
class Part:
    """A slice of one input file: bytes [start, end) or row groups [start, end) (Parquet).

    A line file's part is cut into blocks of whole lines when it is planned: ``blocks`` holds
    each block's end offset and record count, so that the reader reads each block exactly
    once and checks the parser against a count it did not make.
    """

    name: str
    source: str
    format: str
    start: int
    end: int
    first_record: int  # 1-based number of the part's first record in its file
    records: int  # counted by the planner, not by the parser
    first_line: int = 0  # 1-based line of the first record (line formats)
    header: tuple[str, ...] = ()
    key: str = ""
    blocks: tuple[tuple[int, int], ...] = ()  # (end offset, records) of each block

    def as_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Part:
        raw = json.loads(text)
        raw["header"] = tuple(raw["header"])
        raw["blocks"] = tuple((end, count) for end, count in raw["blocks"])
        return cls(**raw)


@dataclass(frozen=True)
class Plan:
    inputs: list[InputFile]
    parts: list[Part]
    columns: Columns
    id_type: str  # an arrow type alias: int64, string, ...
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def records(self) -> int:
        return sum(f.records for f in self.inputs)


def discover(source: str, input_format: str, skip: str | None = None) -> list[tuple[str, str]]:
    """(path, format) of every input file under ``source``, sorted for a stable plan;
    files under ``skip`` (the job's own output folder) are left out."""
    fs, path = filesystem(source)
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.NotFound:
        raise JobConfigError(f"input: {source!r} does not exist")
    if info.type == pafs.FileType.Directory:
        selector = pafs.FileSelector(path, recursive=True)
        found = [
            i.path
            for i in fs.get_file_info(selector)
            if i.type == pafs.FileType.File
            and not i.base_name.startswith((".", "_"))
            and not (skip and "://" not in source and i.path.startswith(skip + "/"))
        ]
    else:
        found = [path]
    files = []
    for name in sorted(found):
        fmt = input_format if input_format != "auto" else _format_of(name)
        if fmt is not None:
            files.append((_qualify(source, name), fmt))
    if not files:
        raise JobConfigError(
            f"input: no .ndjson, .jsonl, .json, .csv or .parquet files in {source!r}"
        )
    return files


def _qualify(source: str, path: str) -> str:
    if "://" in source:
        return f"{source.split('://', 1)[0]}://{path}"
    return path


def _format_of(name: str) -> str | None:
    lower = name.lower()
    for suffix, fmt in FORMATS.items():
        if lower.endswith(suffix):
            return fmt
    return None


def scan_lines(source: str, block_bytes: int) -> tuple[int, int, list[tuple[int, int]]]:
    """Size, line count and cut points (byte offset, lines before it) of a file: one after
    the first newline every ``block_bytes``.

    Newlines are counted with numpy (several times faster than ``bytes.count``); the file's
    sha256 is computed later, while the parts are scored (:class:`Checksums`).
    """
    fs, path = filesystem(source)
    offset = lines = 0
    target = block_bytes
    cuts: list[tuple[int, int]] = []
    last = b"\n"
    with fs.open_input_stream(path) as stream:
        while chunk := stream.read(_SCAN):
            while target < offset + len(chunk):
                newline = chunk.find(b"\n", max(target - offset, 0))
                if newline < 0:
                    break  # the cut lies in the next chunk
                cut = offset + newline + 1
                cuts.append((cut, lines + _newlines(chunk[: newline + 1])))
                target = cut + block_bytes
            lines += _newlines(chunk)
            offset += len(chunk)
            last = chunk[-1:]
    if offset and last != b"\n":
        lines += 1  # a last line without a newline is still a record
    return offset, lines, [c for c in cuts if c[0] < offset]


class Checksums:
    """sha256 of every input file, computed in a background thread from the start of the
    run (hashlib releases the GIL): while the planner counts lines on one core it hashes on
    another, and the audit costs no time before scoring starts. The thread is a daemon and
    stops at the next chunk when cancelled: a failing run does not wait for it."""

    def __init__(self, sources: list[str]) -> None:
        self._sources = sources
        self._sums: dict[str, str] = {}
        self._error: BaseException | None = None
        self._cancelled = threading.Event()
        self._thread = threading.Thread(target=self._run, name="checksums", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for source in self._sources:
                self._sums[source] = sha256_of(source, self._cancelled)
        except BaseException as error:  # handed to the caller of result()
            self._error = error

    def cancel(self) -> None:
        self._cancelled.set()

    def result(self) -> dict[str, str]:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return dict(self._sums)


def sha256_of(source: str, cancelled: threading.Event | None = None) -> str:
    fs, path = filesystem(source)
    digest = hashlib.sha256()
    with fs.open_input_stream(path) as stream:
        while chunk := stream.read(_SCAN):
            if cancelled is not None and cancelled.is_set():
                raise JobConfigError("checksums: the run stopped")
            digest.update(chunk)
    return digest.hexdigest()


def stamp(source: str) -> dict[str, Any]:
    """Size and modification time: what tells a completed part that its input is unchanged."""
    fs, path = filesystem(source)
    info = fs.get_file_info(path)
    mtime = info.mtime_ns if info.mtime is not None else None
    return {"size": info.size, "mtime_ns": mtime}


def _newlines(data: bytes) -> int:
    # numpy compares 32 bytes at a time; bytes.count(b"\n") is several times slower
    return int(np.count_nonzero(np.frombuffer(data, dtype=np.uint8) == _NEWLINE))


def plan_line_file(
    index: int, source: str, fmt: str, part_bytes: int, block_bytes: int
) -> tuple[InputFile, list[Part], list[str]]:
    """Blocks of about ``block_bytes`` of whole lines, grouped into parts of ``part_bytes``."""
    size, lines, cuts = scan_lines(source, block_bytes)
    header: tuple[str, ...] = ()
    start, skip = 0, 0
    if fmt == "csv":
        header, start = csv_header(source)
        skip = 1
    bounds = [(start, skip)] + [c for c in cuts if c[0] > start] + [(size, lines)]
    parts: list[Part] = []
    blocks: list[tuple[int, int]] = []
    begin, before = bounds[0]
    for (_, lines_before), (end, upto) in itertools.pairwise(bounds):
        if upto > lines_before:
            blocks.append((end, upto - lines_before))
        if blocks and (end - begin >= part_bytes or end == size):
            parts.append(
                Part(
                    name=f"part-{index:05d}-{len(parts):05d}",
                    source=source,
                    format=fmt,
                    start=begin,
                    end=end,
                    first_record=before - skip + 1,
                    records=upto - before,
                    first_line=before + 1,
                    header=header,
                    blocks=tuple(blocks),
                )
            )
            begin, before, blocks = end, upto, []
    records = max(0, lines - skip)
    return InputFile(source, fmt, size, "", records), parts, list(header)


def plan_parquet_file(
    index: int, source: str, part_rows: int, part_bytes: int
) -> tuple[InputFile, list[Part], list[str]]:
    """Whole row groups per part, up to ``part_bytes`` of decoded data or ``part_rows``."""
    fs, path = filesystem(source)
    size = fs.get_file_info(path).size or 0
    with fs.open_input_file(path) as handle:
        meta = pq.ParquetFile(handle).metadata
        columns = list(meta.schema.to_arrow_schema().names)
        groups = [meta.row_group(i) for i in range(meta.num_row_groups)]
    parts: list[Part] = []
    first, begin, rows, decoded = 1, 0, 0, 0
    for number, group in enumerate(groups):
        rows += group.num_rows
        decoded += group.total_byte_size
        if rows >= part_rows or decoded >= part_bytes or number == len(groups) - 1:
            if rows:
                parts.append(
                    Part(
                        name=f"part-{index:05d}-{len(parts):05d}",
                        source=source,
                        format="parquet",
                        start=begin,
                        end=number + 1,
                        first_record=first,
                        records=rows,
                    )
                )
            first, begin, rows, decoded = first + rows, number + 1, 0, 0
    records = sum(group.num_rows for group in groups)
    return InputFile(source, "parquet", size, "", records), parts, columns


def part_key(part: Part, common: dict[str, Any]) -> str:
    """Everything that determines a part's output bytes; a completed part is reused only
    when its key matches."""
    document = {
        "input": stamp(part.source),
        "part": [part.format, part.start, part.end],
        **common,
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def build_plan(
    files: list[tuple[str, str]],
    columns: Columns,
    part_bytes: int,
    block_bytes: int,
    part_rows: int,
    common: dict[str, Any],
) -> Plan:
    """Count and cut every input file (``discover``'s list); check the columns the model
    needs."""
    inputs: list[InputFile] = []
    parts: list[Part] = []
    id_type: str | None = None
    for index, (path, fmt) in enumerate(files):
        if fmt == "parquet":
            info, found, names = plan_parquet_file(index, path, part_rows, part_bytes)
        else:
            info, found, names = plan_line_file(index, path, fmt, part_bytes, block_bytes)
        if fmt == "ndjson":
            check_records(path, columns, head_records(path))
        else:
            check_columns(path, fmt, names, columns)
        if id_type is None and info.records:
            id_type = id_type_of(path, fmt, columns.id_column, names)
        inputs.append(info)
        parts.extend(found)
    if id_type is None and sum(f.records for f in inputs):
        raise JobConfigError(
            f"input: no record among the first lines carries the id column {columns.id_column!r}",
            hint="name the key column with --id-column (APP_ID_COLUMN)",
        )
    keyed = [replace(p, key=part_key(p, common)) for p in parts]
    return Plan(inputs, keyed, columns, id_type or "string", common)


def estimate_parts(files: list[tuple[str, str]], part_bytes: int) -> int:
    """Roughly how many parts the input makes (from file sizes), to size the worker pool."""
    total = 0
    for path, _fmt in files:
        fs, local = filesystem(path)
        total += max(1, -(-(fs.get_file_info(local).size or 0) // part_bytes))
    return total
