"""Score one part: read, validate, run the model in batches, write Parquet and rejects.

Memory is bounded by one block of input and its predictions; the output grows on disk one
row group per block. The same code runs in the local engine's threads and in a Ray actor;
each part records the seconds it spent reading, parsing, validating, inferring, writing and
committing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..inference import Predictor, load_predictor
from .columns import Columns
from .errors import CountMismatch
from .output import Layout, PartResult, commit_marker, durable_rename, sha256_file, temporary
from .plan import Part, Plan
from .readers import Chunk, read_part
from .settings import BatchSettings
from .validate import validate

OUTPUT_FORMAT_VERSION = 2  # 2: parts cut at planned blocks
STAGES = ("read", "parse", "validate", "infer", "write", "commit")


def make_scorer(settings: BatchSettings, plan: Plan, predictor: Predictor | None = None) -> Scorer:
    return Scorer(
        predictor or load_predictor(settings),
        plan.columns,
        plan.id_type,
        settings.batch_size,
        settings.block_bytes(),
    )


class Scorer:
    """A loaded model plus the output schema it produces; reused for every part, by any
    number of threads at once (the model runtime is thread-safe, the rest is per part)."""

    def __init__(
        self,
        predictor: Predictor,
        columns: Columns,
        id_type: str,
        batch_size: int,
        block_bytes: int,
    ) -> None:
        self.predictor = predictor
        self.columns = columns
        self.id_column = columns.id_column
        self.id_type = id_type
        self.batch_size = batch_size
        self.block_bytes = block_bytes
        width = predictor.schema.n_features
        probe = predictor.run(np.zeros((1, width), dtype=np.float32))
        self.outputs = probe.shape[1] if probe.ndim == 2 else 1
        self.version = predictor.info.version
        self.schema = self._schema(probe)

    def _schema(self, probe: np.ndarray) -> pa.Schema:
        fields = [pa.field(self.id_column, pa.type_for_alias(self.id_type))]
        if self.predictor.is_classifier:
            fields.append(pa.field("label", self._labels().type))
            fields += [pa.field(f"score_{c}", pa.float32()) for c in self._class_names()]
        elif self.outputs == 1:
            fields.append(pa.field("prediction", pa.float32()))
        else:
            fields.append(pa.field("prediction", pa.list_(pa.float32(), self.outputs)))
        fields.append(pa.field("model_version", pa.string()))
        return pa.schema(fields)

    def _class_names(self) -> list[str]:
        classes = self.predictor.classes or list(range(self.outputs))
        return [str(c) for c in classes]

    def _labels(self) -> pa.Array:
        return pa.array(self.predictor.classes or list(range(self.outputs)))

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Model calls of at most ``batch_size`` rows."""
        if len(features) <= self.batch_size:
            return self.predictor.run(features)
        return np.concatenate(
            [
                self.predictor.run(features[start : start + self.batch_size])
                for start in range(0, len(features), self.batch_size)
            ]
        )

    def columns_of(self, ids: pa.Array, scores: np.ndarray) -> pa.RecordBatch:
        """The output rows of one block: id, label and scores (or prediction), version."""
        arrays: list[pa.Array] = [ids]
        scores = scores.astype(np.float32, copy=False)
        if self.predictor.is_classifier:
            arrays.append(self._labels().take(pa.array(scores.argmax(axis=1))))
            arrays += [pa.array(scores[:, i]) for i in range(scores.shape[1])]
        elif self.outputs == 1:
            arrays.append(pa.array(scores.reshape(-1)))
        else:
            flat = pa.array(scores.reshape(-1))
            arrays.append(pa.FixedSizeListArray.from_arrays(flat, self.outputs))
        arrays.append(pa.repeat(pa.scalar(self.version, pa.string()), len(ids)))
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def score_part(
        self, part: Part, layout: Layout, progress: Callable[[int], None] | None = None
    ) -> PartResult:
        """Score one part into its Parquet file and rejects, then commit it."""
        return self.commit(self.write_part(part, layout, progress), layout)

    def write_part(
        self, part: Part, layout: Layout, progress: Callable[[int], None] | None = None
    ) -> Written:
        """Score one part under temporary names. Nothing of a part that fails (or whose
        ``progress`` callback raises) is left behind."""
        started = time.perf_counter()
        tmp = temporary(layout.prediction(part.name))
        rejects = RejectWriter(layout.reject(part.name), part.source)
        try:
            scored, rejected, stages = self._write(part, tmp, rejects, progress)
        except BaseException:
            tmp.unlink(missing_ok=True)
            rejects.discard()
            raise
        if scored + rejected != part.records:
            tmp.unlink()
            rejects.discard()
            raise CountMismatch(
                f"{part.name} ({part.source}): {part.records} records planned, "
                f"{scored} scored + {rejected} rejected"
            )
        return Written(part, tmp, rejects, scored, rejected, stages, started)

    def commit(self, written: Written, layout: Layout) -> PartResult:
        """Make a written part durable under its final names, then write its marker: the part
        counts as done from then on. Mostly waiting on the disk (fsync)."""
        committing = time.perf_counter()
        part = written.part
        final = layout.prediction(part.name)
        written.rejects.commit()
        durable_rename(written.tmp, final)
        result = PartResult(
            name=part.name,
            source=part.source,
            records=part.records,
            scored=written.scored,
            rejected=written.rejected,
            sha256=sha256_file(final),
            seconds=round(time.perf_counter() - written.started, 3),
            key=part.key,
        )
        commit_marker(layout, result)
        stages = {**written.stages, "commit": time.perf_counter() - committing}
        return replace(result, stages={k: round(v, 4) for k, v in stages.items()})

    def _write(
        self,
        part: Part,
        tmp: Path,
        rejects: RejectWriter,
        progress: Callable[[int], None] | None,
    ) -> tuple[int, int, dict[str, float]]:
        """Scored and rejected counts, and the seconds spent in each stage."""
        laps = Laps()
        scored = rejected = 0
        chunks = read_part(part, self.columns, self.id_type, self.block_bytes)
        with pq.ParquetWriter(tmp, self.schema, compression="zstd") as writer:
            for chunk in chunks:
                laps.lap("read")
                laps.move("read", "parse", chunk.parse_s)
                rejected += rejects.write_all(chunk)
                valid = validate(chunk.table, self.columns, self.id_type)
                for row, reason in sorted(valid.reasons.items()):
                    record = int(chunk.records[row])
                    rejects.write(record, chunk.line_of(record), reason, chunk.raw_of(record))
                rejected += len(valid.reasons)
                laps.lap("validate")
                if len(valid.features):
                    scores = self.predict(valid.features)
                    laps.lap("infer")
                    writer.write_batch(self.columns_of(valid.ids, scores))
                    scored += len(valid.features)
                if progress is not None:
                    progress(chunk.table.num_rows + len(chunk.rejects))
                del chunk, valid  # before the next block is read: one block per thread in memory
                laps.lap("write")
        laps.lap("write")
        return scored, rejected, laps.seconds


@dataclass(frozen=True)
class Written:
    """A part scored under temporary names, not committed yet."""

    part: Part
    tmp: Path
    rejects: RejectWriter
    scored: int
    rejected: int
    stages: dict[str, float]
    started: float


class Laps:
    """Seconds spent in each stage of a part, for the run's report of what bounds its rate."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(STAGES, 0.0)
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] += now - self._last
        self._last = now

    def move(self, source: str, target: str, seconds: float) -> None:
        """Book ``seconds`` of the last lap of ``source`` to ``target`` (measured inside)."""
        self.seconds[source] -= seconds
        self.seconds[target] += seconds


class RejectWriter:
    """NDJSON lines (source, row, line, reason, raw), opened only when a record is refused."""

    def __init__(self, path: Path, source: str) -> None:
        self.path = path
        self.tmp = temporary(path)
        self.source = source
        self._handle: IO[str] | None = None
        path.unlink(missing_ok=True)

    def write_all(self, chunk: Chunk) -> int:
        for reject in chunk.rejects:
            line = chunk.line_of(reject.record)
            self.write(reject.record, line, reject.reason, reject.raw)
        return len(chunk.rejects)

    def write(self, row: int, line: int | None, reason: str, raw: str | None) -> None:
        if self._handle is None:
            self._handle = self.tmp.open("w", encoding="utf-8")
        entry: dict[str, Any] = {"source": self.source, "row": row}
        if line is not None:
            entry["line"] = line
        entry["reason"] = reason
        if raw is not None:
            entry["raw"] = raw
        self._handle.write(json.dumps(entry) + "\n")

    def commit(self) -> None:
        if self._handle is not None:
            self._handle.close()
            durable_rename(self.tmp, self.path)

    def discard(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self.tmp.unlink(missing_ok=True)
