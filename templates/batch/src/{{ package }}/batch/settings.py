"""Settings of the batch job: ``APP_*`` variables, ``settings.yaml`` or command-line options."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from ..settings import AppSettings, available_cores

MIB = 1 << 20


class BatchSettings(AppSettings):
    """Every knob of a run; the ones that change the output are recorded in the part keys."""

    input: str | None = Field(None, description="file, directory or URI (s3://, gs://, file://)")
    output: Path = Field(Path("output"), description="local folder for predictions and reports")
    input_format: Literal["auto", "ndjson", "csv", "parquet"] = Field(
        "auto", description="auto: from the file suffix (.ndjson/.jsonl/.json, .csv, .parquet)"
    )
    id_column: str = Field("id", min_length=1, description="key carried into the output")
    feature_column: str | None = Field(
        None,
        min_length=1,
        description="one column holding every feature as an array (NDJSON list, Parquet list "
        "or fixed-size list) in the model's order; default: one column per feature",
    )
    batch_size: int = Field(4096, ge=1, le=1_000_000, description="rows per model call")
    block_mb: float = Field(
        4.0, gt=0, le=256, description="bytes read and parsed at once (line formats)"
    )
    part_mb: float = Field(
        32.0, gt=0, description="size of one part: the unit of parallelism and of resume"
    )
    parquet_part_rows: int = Field(
        1_000_000,
        ge=1,
        description="Parquet input: at most this many rows per part (whole row groups; a part "
        "also ends at part_mb of decoded data)",
    )
    engine: Literal["local", "ray"] = "local"
    workers: int | None = Field(
        None, ge=1, description="local: scoring threads (default: cores); ray: actors (default 1)"
    )
    ray_address: str | None = Field(
        None, description="an existing Ray cluster (ray://host:10001 or auto); default: local"
    )
    ray_cpus_per_actor: float = Field(1.0, gt=0, description="CPUs reserved by each actor")
    ray_gpus_per_actor: float = Field(0.0, ge=0, description="GPUs reserved by each actor")
    ray_temp_dir: Path | None = Field(None, description="Ray's session folder (local mode)")
    max_reject_rate: float = Field(
        0.01, ge=0, le=1, description="fail the run when rejected / input rows exceed it"
    )
    overwrite: bool = Field(False, description="replace results of a different input or model")
    progress: Literal["auto", "on", "off"] = Field(
        "auto", description="auto: a progress bar on a terminal, nothing in CI or in a pipe"
    )
    metrics_file: Path | None = Field(
        None, description="Prometheus text file; default <output>/metrics.prom"
    )
    pushgateway: str | None = Field(None, description="also push the metrics to this gateway")
    job_name: str = Field("batch-scoring", description="job label of the pushed metrics")

    def block_bytes(self) -> int:
        return max(64 * 1024, int(self.block_mb * MIB))

    def part_bytes(self) -> int:
        return max(self.block_bytes(), int(self.part_mb * MIB))

    def worker_count(self, parts: int) -> int:
        wanted = self.workers or (1 if self.engine == "ray" else available_cores())
        return max(1, min(wanted, parts))

    def metrics_path(self) -> Path:
        return self.metrics_file or self.output / "metrics.prom"
