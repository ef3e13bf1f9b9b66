"""Score one batch of events: one validation pass and one model call in the common case.

Bad events are separated from good ones without giving up the batched fast path: only when
the batch as a whole fails validation or inference are its rows checked one by one, to find
the culprits and send them to the dead-letter topic.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..inference.errors import InputSchemaError
from ..inference.predictor import Predictor
from .events import Event, PoisonEvent, decode


@dataclass
class Scored:
    """The outcome of a batch: predictions in input order, and the dead letters."""

    predictions: list[tuple[Event, dict[str, Any]]] = field(default_factory=list)
    dead: list[tuple[Event, PoisonEvent]] = field(default_factory=list)
    scores: np.ndarray | None = None
    model_seconds: float = 0.0


def score(predictor: Predictor, events: Sequence[Event]) -> Scored:
    """Decode, validate, run and post-process ``events``; never raises for one bad event."""
    result = Scored()
    good: list[Event] = []
    instances: list[Any] = []
    for event in events:
        try:
            instances.append(decode(event.value()))
            good.append(event)
        except PoisonEvent as poison:
            result.dead.append((event, poison))
    if not good:
        return result
    array, good = _validate(predictor, good, instances, result)
    if not good:
        return result
    started = time.perf_counter()
    scores, good = _run(predictor, good, array, result)
    result.model_seconds = time.perf_counter() - started
    if not good:
        return result
    result.scores = scores
    result.predictions = list(zip(good, predictor.postprocess(scores), strict=True))
    return result


def _validate(
    predictor: Predictor, events: list[Event], instances: list[Any], result: Scored
) -> tuple[np.ndarray, list[Event]]:
    try:
        return predictor.to_array(instances), events
    except InputSchemaError:
        pass
    rows: list[np.ndarray] = []
    kept: list[Event] = []
    for event, instance in zip(events, instances, strict=True):
        try:
            rows.append(predictor.schema.to_array([instance], loc="event"))
            kept.append(event)
        except InputSchemaError as error:
            result.dead.append((event, PoisonEvent("schema", str(error))))
    width = predictor.schema.n_features
    array = np.concatenate(rows) if rows else np.empty((0, width), dtype=np.float32)
    return array, kept


def _run(
    predictor: Predictor, events: list[Event], array: np.ndarray, result: Scored
) -> tuple[np.ndarray, list[Event]]:
    try:
        scores: np.ndarray = predictor.run(array)
        finite = _finite_rows(scores)
        if finite.all():
            return scores, events
    except Exception:
        pass
    kept_scores: list[np.ndarray] = []
    kept: list[Event] = []
    for index, event in enumerate(events):
        try:
            row = predictor.run(array[index : index + 1])
        except Exception as error:
            result.dead.append((event, PoisonEvent("inference", f"model call failed: {error!r}")))
            continue
        if not _finite_rows(row).all():
            result.dead.append((event, PoisonEvent("inference", "model returned a non-finite")))
            continue
        kept_scores.append(row)
        kept.append(event)
    if not kept_scores:
        return np.empty((0,), dtype=np.float32), kept
    return np.concatenate(kept_scores), kept


def _finite_rows(scores: np.ndarray) -> np.ndarray:
    flat = scores.reshape(len(scores), -1)
    return np.isfinite(flat).all(axis=1)
