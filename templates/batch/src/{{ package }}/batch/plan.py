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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from .errors import JobConfigError

FORMATS = {".ndjson": "ndjson", ".jsonl": "ndjson", ".json": "ndjson", ".csv": "csv"}
FORMATS[".parquet"] = "parquet"
_SCAN = 8 << 20
_NEWLINE = ord("\n")
_SNIFF_LINES = 100


@dataclass(frozen=True)
class InputFile:
    source: str
    format: str
    bytes: int
    sha256: str  # filled in by Checksums at the end of the run
    records: int


@dataclass(frozen=True)
class Part:
    """A slice of one input file: bytes [start, end) or row groups [start, end) (Parquet)."""

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

    def as_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Part:
        raw = json.loads(text)
        raw["header"] = tuple(raw["header"])
        return cls(**raw)


@dataclass(frozen=True)
class Plan:
    inputs: list[InputFile]
    parts: list[Part]
    id_column: str
    id_type: str  # an arrow type alias: int64, string, ...
    features: list[str]
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def records(self) -> int:
        return sum(f.records for f in self.inputs)


def filesystem(source: str) -> tuple[pafs.FileSystem, str]:
    """A pyarrow filesystem and path for a local path or a URI (s3://, gs://, hdfs://)."""
    if "://" in source:
        try:
            return pafs.FileSystem.from_uri(source)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            raise JobConfigError(f"input: cannot open {source!r}: {error}") from error
    return pafs.LocalFileSystem(), str(Path(source).resolve())


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


def scan_lines(source: str, part_bytes: int) -> tuple[int, int, list[tuple[int, int]]]:
    """Size, line count and cut points (byte offset, lines before it) of a file.

    Newlines are counted with numpy (several times faster than ``bytes.count``); the file's
    sha256 is computed later, while the parts are scored (:class:`Checksums`).
    """
    fs, path = filesystem(source)
    offset = lines = 0
    target = part_bytes
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
                target = cut + part_bytes
            lines += _newlines(chunk)
            offset += len(chunk)
            last = chunk[-1:]
    if offset and last != b"\n":
        lines += 1  # a last line without a newline is still a record
    return offset, lines, [c for c in cuts if c[0] < offset]


class Checksums:
    """sha256 of every input file, computed in a background thread while the job runs
    (hashlib releases the GIL), so that the audit costs no time before scoring starts.
    The thread is a daemon: a failing run does not wait for it."""

    def __init__(self, sources: list[str]) -> None:
        self._sources = sources
        self._sums: dict[str, str] = {}
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="checksums", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for source in self._sources:
                self._sums[source] = sha256_of(source)
        except BaseException as error:  # handed to the caller of result()
            self._error = error

    def result(self) -> dict[str, str]:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return dict(self._sums)


def sha256_of(source: str) -> str:
    fs, path = filesystem(source)
    digest = hashlib.sha256()
    with fs.open_input_stream(path) as stream:
        while chunk := stream.read(_SCAN):
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


def read_head(source: str, limit: int = 1 << 16) -> bytes:
    fs, path = filesystem(source)
    with fs.open_input_stream(path) as stream:
        head: bytes = stream.read(limit)
    return head


def csv_header(source: str) -> tuple[tuple[str, ...], int]:
    """The column names of a CSV file and the byte offset of its first record."""
    head = read_head(source)
    end = head.find(b"\n")
    if not head.strip() or end < 0:
        raise JobConfigError(f"input: {source} has no CSV header line")
    line = head[:end].decode("utf-8-sig").rstrip("\r")
    return tuple(h.strip().strip('"') for h in line.split(",")), end + 1


def plan_line_file(
    index: int, source: str, fmt: str, part_bytes: int
) -> tuple[InputFile, list[Part], list[str]]:
    size, lines, cuts = scan_lines(source, part_bytes)
    header: tuple[str, ...] = ()
    start, skip = 0, 0
    if fmt == "csv":
        header, start = csv_header(source)
        skip = 1
    bounds = [(start, skip)] + [c for c in cuts if c[0] > start] + [(size, lines)]
    parts = []
    for number, ((begin, before), (end, upto)) in enumerate(itertools.pairwise(bounds)):
        if end > begin and upto > before:
            parts.append(
                Part(
                    name=f"part-{index:05d}-{number:05d}",
                    source=source,
                    format=fmt,
                    start=begin,
                    end=end,
                    first_record=before - skip + 1,
                    records=upto - before,
                    first_line=before + 1,
                    header=header,
                )
            )
    records = max(0, lines - skip)
    return InputFile(source, fmt, size, "", records), parts, list(header)


def plan_parquet_file(
    index: int, source: str, part_rows: int
) -> tuple[InputFile, list[Part], list[str]]:
    fs, path = filesystem(source)
    size = fs.get_file_info(path).size or 0
    with fs.open_input_file(path) as handle:
        meta = pq.ParquetFile(handle).metadata
        columns = list(meta.schema.to_arrow_schema().names)
        groups = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    parts: list[Part] = []
    first, begin, rows = 1, 0, 0
    for group, count in enumerate(groups):
        rows += count
        if rows >= part_rows or group == len(groups) - 1:
            if rows:
                parts.append(
                    Part(
                        name=f"part-{index:05d}-{len(parts):05d}",
                        source=source,
                        format="parquet",
                        start=begin,
                        end=group + 1,
                        first_record=first,
                        records=rows,
                    )
                )
            first, begin, rows = first + rows, group + 1, 0
    return InputFile(source, "parquet", size, "", sum(groups)), parts, columns


def sniff_id_type(source: str, fmt: str, id_column: str, header: list[str]) -> str | None:
    """int64 when the first records carry integer ids, string otherwise; None if none seen."""
    lines = read_head(source).splitlines()[:_SNIFF_LINES]
    values: list[Any] = []
    if fmt == "ndjson":
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get(id_column) is not None:
                values.append(record[id_column])
    elif fmt == "csv" and id_column in header:
        column = header.index(id_column)
        for line in lines[1:]:
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


def parquet_id_type(source: str, id_column: str) -> str:
    fs, path = filesystem(source)
    with fs.open_input_file(path) as handle:
        kind = pq.ParquetFile(handle).schema_arrow.field(id_column).type
    if pa.types.is_integer(kind):
        return "int64"
    return "string"


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
    source: str,
    input_format: str,
    id_column: str,
    features: list[str],
    part_bytes: int,
    part_rows: int,
    common: dict[str, Any],
    skip: str | None = None,
) -> Plan:
    """Discover, checksum and cut every input file; check the columns the model needs."""
    inputs: list[InputFile] = []
    parts: list[Part] = []
    id_type: str | None = None
    for index, (path, fmt) in enumerate(discover(source, input_format, skip)):
        if fmt == "parquet":
            info, found, columns = plan_parquet_file(index, path, part_rows)
        else:
            info, found, columns = plan_line_file(index, path, fmt, part_bytes)
        if fmt in ("csv", "parquet"):
            missing = [c for c in [id_column, *features] if c not in columns]
            if missing:
                raise JobConfigError(
                    f"input: {path} lacks column(s) {', '.join(map(repr, missing[:5]))}"
                    + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""),
                    hint="the model's features are listed in models/manifest.json",
                )
        if id_type is None and info.records:
            if fmt == "parquet":
                id_type = parquet_id_type(path, id_column)
            else:
                id_type = sniff_id_type(path, fmt, id_column, columns)
        inputs.append(info)
        parts.extend(found)
    if id_type is None and sum(f.records for f in inputs):
        raise JobConfigError(
            f"input: no record among the first lines carries the id column {id_column!r}",
            hint="name the key column with --id-column (APP_ID_COLUMN)",
        )
    keyed = [Part(**{**asdict(p), "header": p.header, "key": part_key(p, common)}) for p in parts]
    return Plan(inputs, keyed, id_column, id_type or "string", features, common)


def estimate_parts(source: str, input_format: str, part_bytes: int) -> int:
    """Roughly how many parts the input makes (from file sizes), to size the worker pool."""
    try:
        files = discover(source, input_format)
    except JobConfigError:
        return 1  # planning reports the problem
    fs, _ = filesystem(source)
    total = 0
    for path, _fmt in files:
        local = path.split("://", 1)[-1]
        total += max(1, -(-(fs.get_file_info(local).size or 0) // part_bytes))
    return total
