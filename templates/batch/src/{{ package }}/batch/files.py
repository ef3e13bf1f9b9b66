"""Input files as pyarrow sees them: local paths or URIs (s3://, gs://, hdfs://)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs

from .errors import JobConfigError


def filesystem(source: str) -> tuple[pafs.FileSystem, str]:
    """A pyarrow filesystem and path for a local path or a URI (s3://, gs://, hdfs://)."""
    if "://" in source:
        try:
            return pafs.FileSystem.from_uri(source)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            raise JobConfigError(f"input: cannot open {source!r}: {error}") from error
    return pafs.LocalFileSystem(), str(Path(source).resolve())


def read_head(source: str, limit: int = 1 << 16) -> bytes:
    fs, path = filesystem(source)
    with fs.open_input_stream(path) as stream:
        head: bytes = stream.read(limit)
    return head
