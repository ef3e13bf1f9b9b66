"""Rules on the model artifacts: each one a manifest names matches its sha256; no pickle
without the project's recorded opt-in."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from mlship.lifecycle.check.context import Context, Unreadable
from mlship.lifecycle.check.findings import Finding
from mlship.lifecycle.check.rules import Rule

_CHUNK = 1 << 20


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def artifacts(document: Any) -> Iterator[dict[str, Any]]:
    """Every entry naming a ``file`` with its ``sha256``, at any depth of a manifest."""
    if isinstance(document, dict):
        if isinstance(document.get("file"), str) and isinstance(document.get("sha256"), str):
            yield document
        for value in document.values():
            yield from artifacts(value)
    elif isinstance(document, list):
        for item in document:
            yield from artifacts(item)


def model_checksum(ctx: Context, rule: Rule) -> Iterator[Finding]:
    manifests = ctx.files(rule.params.get("manifests", ["models/**/manifest.json"]))
    if not manifests and not ctx.answers.data.get("demo_model", True):
        yield rule.finding(
            "the project serves its own model but models/ has no manifest", "models", None
        )
    for rel in manifests:
        try:
            document = ctx.json(rel)
        except Unreadable as problem:
            yield rule.finding(problem.message, rel, problem.line)
            continue
        folder = (ctx.root / rel).parent
        for entry in artifacts(document):
            name = entry["file"]
            line = ctx.line_containing(rel, f'"{name}"')
            path = (folder / name).resolve()
            if not path.is_relative_to(ctx.root.resolve()):
                yield rule.finding(f"{rel} names {name}, outside the project", rel, line)
            elif not path.is_file():
                yield rule.finding(f"{rel} names {name}, which does not exist", rel, line)
            elif sha256_of(path) != entry["sha256"]:
                yield rule.finding(
                    f"{name} does not match the sha256 in {rel}: the artifact "
                    "changed after the manifest was written",
                    rel,
                    line,
                )


def _opted_in(ctx: Context, rule: Rule) -> bool:
    opt_in = rule.params.get("opt_in") or {}
    if not opt_in:
        return False
    try:
        documents = ctx.documents(str(opt_in.get("file", "settings.yaml")))
    except Unreadable:
        return False
    return any(isinstance(d, dict) and d.get(opt_in.get("key")) is True for d in documents)


def model_pickle(ctx: Context, rule: Rule) -> Iterator[Finding]:
    patterns = rule.params.get("files", ["models/**/*.pkl"])
    found = set(ctx.files(patterns))
    suffixes = {PurePosixPath(p).suffix for p in patterns}
    for rel in ctx.files(["models/**/manifest.json"]):
        try:
            document = ctx.json(rel)
        except Unreadable:
            continue  # model.checksum reports it
        for entry in artifacts(document):
            named = (PurePosixPath(rel).parent / entry["file"]).as_posix()
            if PurePosixPath(named).suffix in suffixes:
                found.add(named)
    if found and not _opted_in(ctx, rule):
        for rel in sorted(found):
            yield rule.finding(
                f"{rel} is a pickle/joblib model: loading it runs code from the file", rel, None
            )
