"""The output folder: one Parquet file per part, committed by rename, plus their markers.

``predictions/part-*.parquet`` are complete by construction: each is written under a hidden
temporary name and renamed once whole. ``_parts/part-*.json`` is written last and is the
commit record: a part counts as done only when its marker exists and its key matches the
current input, model and parameters. Everything else found in the folder is a leftover
of an interrupted run and is removed before work starts.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import JobConfigError
from .plan import Plan

TMP_SUFFIX = ".tmp"


@dataclass(frozen=True)
class PartResult:
    name: str
    source: str
    records: int
    scored: int
    rejected: int
    sha256: str
    seconds: float
    key: str
    skipped: bool = False
    stages: dict[str, float] = field(default_factory=dict)  # seconds per stage, this run only


class Layout:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.predictions = self.root / "predictions"
        self.rejects = self.root / "rejects"
        self.markers = self.root / "_parts"
        self.manifest = self.root / "run.json"

    def prediction(self, name: str) -> Path:
        return self.predictions / f"{name}.parquet"

    def reject(self, name: str) -> Path:
        return self.rejects / f"{name}.ndjson"

    def marker(self, name: str) -> Path:
        return self.markers / f"{name}.json"

    def create(self) -> None:
        for folder in (self.predictions, self.rejects, self.markers):
            folder.mkdir(parents=True, exist_ok=True)
        fsync_dir(self.root)


def temporary(path: Path) -> Path:
    """The hidden name a file is written under (readers of the folder skip dot files)."""
    return path.with_name(f".{path.name}{TMP_SUFFIX}")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def durable_rename(source: Path, target: Path) -> None:
    """fsync the file, rename it, fsync its folder: after it returns, ``target`` exists and
    is whole even after a power cut (a rename lives in the folder, which has its own fsync)."""
    with source.open("rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(source, target)
    fsync_dir(target.parent)


def fsync_dir(folder: Path) -> None:
    """Make the entries of ``folder`` (new names, renames, removals) durable."""
    handle = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def write_json(path: Path, document: dict[str, Any]) -> None:
    tmp = temporary(path)
    tmp.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    durable_rename(tmp, path)


def commit_marker(layout: Layout, result: PartResult) -> None:
    write_json(layout.marker(result.name), {**asdict(result), "stages": {}})


def completed(layout: Layout, plan: Plan, overwrite: bool) -> dict[str, PartResult]:
    """Parts already done for this plan; clears leftovers and refuses foreign results."""
    keys = {p.name: p.key for p in plan.parts}
    done: dict[str, PartResult] = {}
    foreign: list[str] = []
    if layout.markers.is_dir():
        for path in sorted(layout.markers.glob("part-*.json")):
            result = PartResult(**json.loads(path.read_text(encoding="utf-8")))
            matches = keys.get(result.name) == result.key
            if matches and layout.prediction(result.name).is_file():
                done[result.name] = PartResult(**{**asdict(result), "skipped": True})
            elif not matches:
                foreign.append(result.name)
    if foreign and not overwrite:
        raise JobConfigError(
            f"output: {layout.root} holds {len(foreign)} part(s) from a different input, model "
            f"or parameters (e.g. {foreign[0]})",
            hint="write to a new --output folder, or pass --overwrite to replace them",
        )
    if foreign:
        for folder in (layout.predictions, layout.rejects, layout.markers):
            shutil.rmtree(folder, ignore_errors=True)
        done = {}
    layout.create()
    _remove_leftovers(layout, set(done))
    return done


def _remove_leftovers(layout: Layout, done: set[str]) -> None:
    """Temporary files and uncommitted parts of an interrupted run."""
    for folder in (layout.predictions, layout.rejects, layout.markers):
        for path in folder.iterdir():
            name = path.name.split(".")[0]
            if path.name.startswith(".") or name not in done:
                path.unlink()
