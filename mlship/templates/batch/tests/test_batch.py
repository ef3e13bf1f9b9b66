"""The batch job on generated input: counts, rejects, resume, determinism, exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from project import MODELS, module
from prometheus_client.parser import text_string_to_metric_families

job = module("batch.job")
cli = module("batch.__main__")
sample = module("batch.sample")
settings_module = module("batch.settings")
manifest_module = module("inference.manifest")

ROWS = 3000
BAD = 15


def make_input(folder: Path, fmt: str, rows: int = ROWS, bad: int = BAD) -> tuple[Path, dict]:
    manifest = manifest_module.load_manifest(MODELS)
    suffix = {"ndjson": "ndjson", "csv": "csv", "parquet": "parquet"}[fmt]
    path = folder / f"input.{suffix}"
    bad_ids = sample.generate(manifest, job.feature_names(manifest), path, rows, fmt, bad, seed=1)
    return path, bad_ids


def run(source: Path, output: Path, **options: Any) -> dict[str, Any]:
    options = {"models_dir": MODELS, "workers": 1, "progress": "off", **options}
    settings = settings_module.BatchSettings(input=str(source), output=output, **options)
    document: dict[str, Any] = job.run_job(settings)
    return document


def output_ids(output: Path) -> list[int]:
    table = pq.read_table(output / "predictions")
    return sorted(table.column("id").to_pylist())


def rejects(output: Path) -> list[dict[str, Any]]:
    found = []
    for path in sorted((output / "rejects").glob("*.ndjson")):
        found += [json.loads(line) for line in path.read_text().splitlines()]
    return found


@pytest.mark.parametrize("fmt", ["ndjson", "csv", "parquet"])
def test_every_record_is_scored_or_rejected_once(tmp_path: Path, fmt: str) -> None:
    source, bad = make_input(tmp_path, fmt)
    document = run(source, tmp_path / "out")
    assert document["status"] == "succeeded"
    assert document["counts"] == {
        "input": ROWS,
        "scored": ROWS - len(bad),
        "rejected": len(bad),
        "reject_rate": round(len(bad) / ROWS, 6),
    }
    good = sorted(set(range(ROWS)) - set(bad))
    assert output_ids(tmp_path / "out") == good
    found = rejects(tmp_path / "out")
    assert len(found) == len(bad)
    for entry in found:
        assert entry["source"] == str(source)
        assert entry["reason"]
        # the row number points at the record: ids start at 0, rows at 1
        assert entry["row"] - 1 in bad
    table = pq.read_table(tmp_path / "out" / "predictions")
    assert set(table.column("model_version").to_pylist()) == {document["model"]["version"]}


def test_reasons_name_the_problem(tmp_path: Path) -> None:
    source, bad = make_input(tmp_path, "ndjson", rows=500, bad=5)
    run(source, tmp_path / "out", max_reject_rate=0.5)
    reasons = {entry["row"] - 1: entry["reason"] for entry in rejects(tmp_path / "out")}
    expected = {
        "unparseable": "unparseable JSON",
        "missing": "missing",
        "text": "not a number",
        "nan": "not a finite number",
        "null_id": "missing id",
    }
    for key, kind in bad.items():
        assert expected[kind] in reasons[key], (kind, reasons[key])


def test_reject_rate_above_the_limit_fails_the_run(tmp_path: Path) -> None:
    source, _ = make_input(tmp_path, "ndjson", rows=200, bad=20)
    code = cli.main(
        [
            "run",
            "--input",
            str(source),
            "--output",
            str(tmp_path / "out"),
            "--models-dir",
            str(MODELS),
            "--max-reject-rate",
            "0.05",
            "--workers",
            "1",
        ]
    )
    assert code == 3
    manifest = json.loads((tmp_path / "out" / "run.json").read_text())
    assert manifest["status"] == "failed_reject_rate"
    assert manifest["counts"]["rejected"] == 20


def test_a_rerun_skips_completed_parts_and_redoes_the_rest(tmp_path: Path) -> None:
    source, bad = make_input(tmp_path, "ndjson", rows=ROWS, bad=BAD)
    small = {"block_mb": 0.0625, "part_mb": 0.25}
    first = run(source, tmp_path / "out", **small)
    assert first["parts"]["total"] >= 4
    before = {p.name: p.read_bytes() for p in (tmp_path / "out" / "predictions").iterdir()}
    # an interrupted run: one part never committed, a temporary file left behind
    lost = sorted(before)[1]
    (tmp_path / "out" / "_parts" / lost.replace(".parquet", ".json")).unlink()
    (tmp_path / "out" / "predictions" / f".{lost}.tmp").write_bytes(b"half a file")
    second = run(source, tmp_path / "out", **small)
    assert second["parts"]["skipped"] == first["parts"]["total"] - 1
    assert second["parts"]["scored"] == 1
    after = {p.name: p.read_bytes() for p in (tmp_path / "out" / "predictions").iterdir()}
    assert after == before
    assert output_ids(tmp_path / "out") == sorted(set(range(ROWS)) - set(bad))


def test_same_input_and_model_give_identical_bytes(tmp_path: Path) -> None:
    source, _ = make_input(tmp_path, "csv")
    one = run(source, tmp_path / "one")
    two = run(source, tmp_path / "two", workers=2, part_mb=0.1, block_mb=0.0625)
    three = run(source, tmp_path / "three", part_mb=0.1, block_mb=0.0625)
    assert one["predictions_sha256"] != two["predictions_sha256"]  # other parts, other files
    assert two["predictions_sha256"] == three["predictions_sha256"]
    files = sorted(p.name for p in (tmp_path / "two" / "predictions").iterdir())
    for name in files:
        a = (tmp_path / "two" / "predictions" / name).read_bytes()
        assert a == (tmp_path / "three" / "predictions" / name).read_bytes()
    # other block sizes put rows in other model calls: labels agree, scores to rounding
    first = pq.read_table(tmp_path / "one" / "predictions").sort_by("id")
    second = pq.read_table(tmp_path / "two" / "predictions").sort_by("id")
    assert first.column("id").equals(second.column("id"))
    assert first.column("label").equals(second.column("label"))
    np.testing.assert_allclose(
        first.column("score_1").to_numpy(), second.column("score_1").to_numpy(), atol=1e-6
    )


def test_results_of_another_model_are_not_mixed_in(tmp_path: Path) -> None:
    source, _ = make_input(tmp_path, "ndjson", rows=300, bad=0)
    run(source, tmp_path / "out")
    with pytest.raises(job.JobConfigError, match="different input"):
        run(source, tmp_path / "out", batch_size=7)
    again = run(source, tmp_path / "out", batch_size=7, overwrite=True)
    assert again["parts"]["scored"] == again["parts"]["total"]


def test_run_manifest_and_metrics_describe_the_run(tmp_path: Path) -> None:
    source, bad = make_input(tmp_path, "parquet", rows=1000, bad=10)
    document = run(source, tmp_path / "out")
    saved = json.loads((tmp_path / "out" / "run.json").read_text())
    assert saved["run_id"] == document["run_id"]
    assert saved["inputs"][0]["sha256"] == manifest_module.sha256_of(source)
    assert saved["model"]["sha256"] == manifest_module.load_manifest(MODELS).sha256
    assert saved["params"]["batch_size"] == 4096
    assert saved["duration_s"] >= 0 and saved["ended"] >= saved["started"]
    text = (tmp_path / "out" / "metrics.prom").read_text()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("batch_job_rows", (("status", "input"),))] == 1000
    assert samples[("batch_job_rows", (("status", "rejected"),))] == len(bad)
    assert samples[("batch_job_success", ())] == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--input", "does-not-exist.ndjson"], "does not exist"),
        (["run", "--input", "x", "--batch-size", "0"], "batch_size"),
        (["run", "--input", "x", "--max-reject-rate", "2"], "max_reject_rate"),
    ],
)
def test_bad_options_exit_2_with_the_field_named(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main([*argv, "--output", str(tmp_path / "out"), "--models-dir", str(MODELS)])
    assert code == 2
    assert message in capsys.readouterr().err


def test_missing_feature_columns_are_named(tmp_path: Path) -> None:
    source = tmp_path / "narrow.csv"
    source.write_text("id,a\n1,2\n")
    with pytest.raises(job.JobConfigError, match="lacks column"):
        run(source, tmp_path / "out")


def test_an_output_folder_inside_the_input_folder_is_not_read_back(tmp_path: Path) -> None:
    make_input(tmp_path, "parquet", rows=400, bad=0)
    first = run(tmp_path, tmp_path / "out")
    second = run(tmp_path, tmp_path / "out")
    assert first["counts"]["input"] == second["counts"]["input"] == 400
    assert second["parts"]["skipped"] == second["parts"]["total"]


def test_csv_ids_with_leading_zeros_stay_text(tmp_path: Path) -> None:
    manifest = manifest_module.load_manifest(MODELS)
    features = job.feature_names(manifest)
    source = tmp_path / "codes.csv"
    header = ",".join(["id", *(f'"{f}"' if "," in f else f for f in features)])
    rows = [",".join([code, *["0.5"] * len(features)]) for code in ("007", "010", "123")]
    source.write_text("\n".join([header, *rows]) + "\n")
    run(source, tmp_path / "out")
    assert output_ids(tmp_path / "out") == ["007", "010", "123"]


def test_both_ndjson_parsers_read_the_same_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    readers = module("batch.readers")
    assert readers._polars() is not None, "polars is a dependency: the fast parser"
    source, _ = make_input(tmp_path, "ndjson", rows=500, bad=0)
    manifest = manifest_module.load_manifest(MODELS)
    schema = pa.schema(
        [pa.field("id", pa.int64())]
        + [pa.field(name, pa.float64()) for name in job.feature_names(manifest)]
    )
    block = memoryview(source.read_bytes())
    fast = readers.parse_ndjson(block, schema)
    monkeypatch.setattr(readers, "_polars", lambda: None)
    fallback = readers.parse_ndjson(block, schema)
    assert fast is not None and fallback is not None
    assert fast.num_rows == 500
    assert fast.equals(fallback)


def test_progress_bar_only_when_asked_or_on_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, _ = make_input(tmp_path, "ndjson", rows=300, bad=0)
    run(source, tmp_path / "quiet", progress="auto")  # pytest's stderr is not a terminal
    assert "rows/s" not in capsys.readouterr().err
    run(source, tmp_path / "shown", progress="on")
    assert "300/300 rows" in capsys.readouterr().err
