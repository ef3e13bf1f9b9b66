"""End-of-run metrics as Prometheus text: for node_exporter's textfile collector or a
Pushgateway. The file is replaced atomically, so a scrape never sees half of it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway, write_to_textfile
from prometheus_client.parser import text_string_to_metric_families

log = logging.getLogger(__name__)

LAST_SUCCESS = "batch_job_last_success_timestamp_seconds"


def registry_for(run: dict[str, Any], previous_success: float | None) -> CollectorRegistry:
    registry = CollectorRegistry()
    counts = run["counts"]
    model = run["model"]
    rows = Gauge(
        "batch_job_rows", "Records of the last run by status", ["status"], registry=registry
    )
    for status in ("input", "scored", "rejected"):
        rows.labels(status).set(counts[status])
    parts = Gauge("batch_job_parts", "Parts of the last run", ["state"], registry=registry)
    parts.labels("scored").set(run["parts"]["scored"])
    parts.labels("skipped").set(run["parts"]["skipped"])
    Gauge("batch_job_reject_ratio", "Rejected / input records", registry=registry).set(
        counts["reject_rate"]
    )
    Gauge("batch_job_duration_seconds", "Wall time of the last run", registry=registry).set(
        run["duration_s"]
    )
    Gauge("batch_job_rows_per_second", "Records per second", registry=registry).set(
        run["rows_per_s"]
    )
    Gauge("batch_job_success", "1 when the last run succeeded", registry=registry).set(
        1 if run["status"] == "succeeded" else 0
    )
    Gauge("batch_job_last_run_timestamp_seconds", "End of the last run", registry=registry).set(
        run["ended_unix"]
    )
    success = run["ended_unix"] if run["status"] == "succeeded" else previous_success
    if success is not None:
        Gauge(LAST_SUCCESS, "End of the last successful run", registry=registry).set(success)
    info = Gauge(
        "model_info",
        "The model that scored the run",
        ["name", "version", "framework", "sha256", "device"],
        registry=registry,
    )
    info.labels(
        model["name"], model["version"], model["framework"], model["sha256"], model["device"]
    ).set(1)
    return registry


def previous_success(path: Path) -> float | None:
    """The last success time in an earlier metrics file, kept when this run fails."""
    if not path.is_file():
        return None
    for family in text_string_to_metric_families(path.read_text(encoding="utf-8")):
        for sample in family.samples:
            if sample.name == LAST_SUCCESS:
                return float(sample.value)
    return None


def publish(run: dict[str, Any], path: Path, gateway: str | None, job: str) -> None:
    registry = registry_for(run, previous_success(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry)
    if gateway:
        try:
            push_to_gateway(gateway, job=job, registry=registry, timeout=10)
        except OSError as error:
            log.warning("could not push metrics to %s: %s", gateway, error)
