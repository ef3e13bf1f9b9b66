"""The batch pattern's image, built and run with the README's own commands.

The job reads an input folder mounted read-only, writes predictions, rejects and the run
manifest into a mounted output folder as uid 10001 (not root), and a second run with the
same output resumes: every committed part is skipped, nothing is scored twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import ImageProject
from .podman import Image, ReadmeCommands

pytestmark = pytest.mark.images

BAD_LINES = [
    '{"id": 900000001, "mean radius": "not a number"}',
    "this line is not JSON",
]


@pytest.fixture(scope="module")
def commands(image_project: ImageProject) -> ReadmeCommands:
    return image_project("batch")


@pytest.fixture(scope="module")
def image(commands: ReadmeCommands, built: Callable[[ReadmeCommands], Image]) -> Image:
    return built(commands)


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_runtime_image_carries_no_compiler_cache_or_tests(image: Image) -> None:
    assert image.lean_findings() == []


def test_job_reads_read_only_input_writes_as_non_root_and_resumes(
    commands: ReadmeCommands, image: Image
) -> None:
    project = commands.project
    commands.run(commands.line("make sample"), timeout=600)
    sample = project / "data" / "sample.ndjson"
    with sample.open("a") as lines:
        lines.write("\n".join(BAD_LINES) + "\n")
    data_before = digest(project / "data")
    commands.run(commands.line("chmod a+rwx output"))
    job = commands.line("docker run ", "/data/input:ro")
    first = commands.run(job, timeout=600)
    output = project / "output"
    manifest = json.loads((output / "run.json").read_text())
    assert manifest["status"] == "succeeded", first.stderr[-3000:]
    parts = manifest["parts"]
    assert parts["total"] >= 1 and parts["scored"] == parts["total"] and parts["skipped"] == 0
    predictions = sorted((output / "predictions").glob("*.parquet"))
    rejects = sorted((output / "rejects").glob("*.ndjson"))
    assert predictions and rejects
    reasons = [json.loads(line)["reason"] for f in rejects for line in f.read_text().splitlines()]
    assert len(reasons) == len(BAD_LINES), reasons
    import pyarrow.parquet as pq

    rows = sum(pq.read_metadata(p).num_rows for p in predictions)
    sample_rows = sum(1 for _ in sample.open()) - len(BAD_LINES)
    assert rows == sample_rows
    written = [output / "run.json", *predictions, *rejects]
    assert {p.stat().st_uid for p in written} == {10001}, "written by the image's user"
    assert digest(project / "data") == data_before, "the read-only input was changed"

    predictions_before = digest(output / "predictions")
    commands.run(job, timeout=600)
    again = json.loads((output / "run.json").read_text())
    assert again["status"] == "succeeded"
    assert again["parts"]["skipped"] == parts["total"]
    assert again["parts"]["scored"] == 0
    assert digest(output / "predictions") == predictions_before


def test_readme_lists_only_commands_this_suite_ran(commands: ReadmeCommands) -> None:
    assert commands.not_run() == []
