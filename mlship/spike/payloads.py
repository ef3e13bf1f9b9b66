"""Request bodies for a spike: generated from the model's input schema, from a chained
project's own corpus of utterances, or read from a file.

A deliberately invalid share (``--invalid-share``) measures error handling under load:
the service should reject those bodies quickly with a 4xx, not fail with a 5xx or, worse,
answer them as if they were valid.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlship.errors import InputError

MAX_FILE_LINES = 100_000
GENERATED = 256  # distinct valid bodies: enough variety, small enough to hold in memory


@dataclass(frozen=True)
class Payloads:
    """Valid and invalid bodies (JSON text) and where they came from."""

    valid: list[str]
    invalid: list[str]
    source: str


@dataclass(frozen=True)
class InputSchema:
    """The part of ``models/manifest.json`` a request body depends on."""

    n_features: int
    integer: bool
    features: list[str] | None


def read_schema(manifest: Path) -> InputSchema:
    """Read the input schema of a project's model manifest; errors name the field."""
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{manifest}: cannot read the model manifest ({error})") from None
    except json.JSONDecodeError as error:
        raise InputError(f"{manifest}: not valid JSON ({error})") from None
    spec = data.get("input") if isinstance(data, dict) else None
    if not isinstance(spec, dict):
        raise InputError(f"{manifest}: input: missing (expected the model's input schema)")
    shape = spec.get("shape")
    features = spec.get("features")
    width = shape[1] if isinstance(shape, list) and len(shape) == 2 else None
    if not isinstance(width, int) and isinstance(features, list):
        width = len(features)
    if not isinstance(width, int) or width <= 0:
        raise InputError(
            f"{manifest}: input.shape: {shape!r} is not [batch, features] with a known width",
            hint="spike needs a 2-D numeric input; give request bodies with --payloads FILE",
        )
    dtype = str(spec.get("dtype", "float32"))
    names = [str(f) for f in features] if isinstance(features, list) else None
    return InputSchema(n_features=width, integer=dtype.startswith(("int", "uint")), features=names)


def from_schema(schema: InputSchema, rows: int = 1, seed: int = 0) -> list[str]:
    """Valid, varied bodies ``{"instances": [...]}``: each feature keeps a scale of its own
    (as real features do) and rows vary around it; when the features have names, one body
    in four sends its rows as objects keyed by name (the service contract allows both)."""
    rng = random.Random(seed)
    scales = [10 ** rng.uniform(-1, 3) for _ in range(schema.n_features)]
    bodies = []
    for i in range(GENERATED):
        instances: list[Any] = []
        for _ in range(rows):
            if schema.integer:
                row: list[float | int] = [rng.randint(0, 10) for _ in range(schema.n_features)]
            else:
                row = [round(abs(rng.gauss(1.0, 0.3)) * s, 4) for s in scales]
            names = schema.features
            if names is not None and len(names) == len(row) and i % 4 == 3:
                instances.append(dict(zip(names, row, strict=True)))
            else:
                instances.append(row)
        bodies.append(json.dumps({"instances": instances}))
    return bodies


def from_texts(texts: list[str], rows: int = 1, seed: int = 0) -> list[str]:
    """Bodies ``{"instances": [{"text": ...}, ...]}`` from a project's own utterances."""
    rng = random.Random(seed)
    bodies = []
    for i in range(min(GENERATED, max(len(texts), 1))):
        picked = [texts[(i + k * 7) % len(texts)] for k in range(rows)] if texts else []
        rng.shuffle(picked)
        bodies.append(json.dumps({"instances": [{"text": t} for t in picked]}))
    return bodies


def read_file(path: Path) -> list[str]:
    """Bodies from an NDJSON file, one JSON document per line; errors carry line numbers."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"--payloads: {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"--payloads: cannot read {path} ({error})") from None
    bodies: list[str] = []
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if number > MAX_FILE_LINES:
            problems.append(f"line {number}: more than {MAX_FILE_LINES} lines")
            break
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            problems.append(f"line {number}: not valid JSON ({error.msg} at column {error.colno})")
            continue
        if not isinstance(value, dict | list):
            problems.append(f"line {number}: a request body must be a JSON object or array")
            continue
        bodies.append(json.dumps(value))
    if problems:
        shown = problems[:10]
        if len(problems) > 10:
            shown.append(f"... and {len(problems) - 10} more")
        raise InputError(f"--payloads: {path} has invalid lines", problems=shown)
    if not bodies:
        raise InputError(f"--payloads: {path} holds no request body (one JSON document a line)")
    return bodies


def invalid_variants(valid: list[str], seed: int = 1) -> list[str]:
    """Bodies a correct service must reject with a 4xx: wrong width, wrong type, wrong key."""
    rng = random.Random(seed)
    out = ["{not json", "{}", json.dumps({"instances": "not a list"})]
    for text in valid[:32]:
        body: Any = json.loads(text)
        rows = body.get("instances") if isinstance(body, dict) else None
        if isinstance(rows, list) and rows and isinstance(rows[0], dict) and "text" in rows[0]:
            out.append(json.dumps({"instances": [{"text": 5}]}))  # a number for a text
            out.append(json.dumps({"instances": [{}]}))  # no text
            out.append(json.dumps({"instances": [{"text": None}]}))
            out.append(json.dumps({"texts": [rows[0]["text"]]}))  # wrong key
            continue
        if not (isinstance(rows, list) and rows and isinstance(rows[0], list) and rows[0]):
            continue
        first = list(rows[0])
        out.append(json.dumps({"instances": [first[:-1]]}))  # one feature short
        out.append(json.dumps({"instances": [[*first, 1.0]]}))  # one feature too many
        typed = list(first)
        typed[rng.randrange(len(typed))] = "not a number"
        out.append(json.dumps({"instances": [typed]}))
        out.append(json.dumps({"inputs": [first]}))  # wrong key
        out.append(json.dumps({"instances": [[None, *first[1:]]]}))
    return out


def check_share(share: float) -> None:
    if math.isnan(share) or not 0 <= share < 1:
        raise InputError(f"--invalid-share: {share!r} must be at least 0 and below 1")


def load(
    *,
    payload_file: Path | None,
    manifest: Path | None,
    invalid_share: float,
    rows: int = 1,
    pipeline: Path | None = None,
    corpus: Callable[[], list[str]] | None = None,
) -> Payloads:
    """Pick the bodies for a run: the file wins, else the model's manifest, else a chained
    project's corpus (its ``models/pipeline.json`` says the models are built), else a
    clear error."""
    check_share(invalid_share)
    if rows < 1:
        raise InputError(f"--rows: {rows!r} must be 1 or more")
    if payload_file is not None:
        valid = read_file(payload_file)
        source = f"file {payload_file}"
    elif manifest is not None and manifest.is_file():
        valid = from_schema(read_schema(manifest), rows=rows)
        source = f"generated from {manifest}"
    elif pipeline is not None and pipeline.is_file() and corpus is not None:
        valid = from_texts(corpus(), rows=rows)
        source = f"generated from the project's corpus (models in {pipeline})"
    else:
        raise InputError(
            "no request bodies: no --payloads file and no models/manifest.json (or "
            "models/pipeline.json) to build them from",
            hint="in a generated project run `make model` first (it writes the model's "
            "manifest), or give --payloads FILE.ndjson",
        )
    invalid = invalid_variants(valid) if invalid_share > 0 else []
    return Payloads(valid=valid, invalid=invalid, source=source)
