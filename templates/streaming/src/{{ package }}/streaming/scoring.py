"""Score one batch of events: one validation pass and one model call in the common case.

Bad events are separated from good ones without giving up the batched fast path: only when
the batch as a whole fails validation or inference are its rows checked one by one, to find
the culprits and send them to the dead-letter topic.

A model that fails is not always the events' fault. When the model also fails on a row it
scored before (the probe), the runtime itself is broken (out of memory, a lost GPU, a
crashed session): :class:`ModelUnavailable` is raised and nothing is dead-lettered, so the
consumer can hold the batch, back off and try again instead of throwing the stream away.
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


class ModelUnavailable(Exception):
    """The model failed for the whole batch and for a row it scored before: retry later."""


@dataclass
class Scored:
    """The outcome of a batch: predictions in input order, and the dead letters."""

    predictions: list[tuple[Event, dict[str, Any]]] = field(default_factory=list)
    dead: list[tuple[Event, PoisonEvent]] = field(default_factory=list)
    scores: np.ndarray | None = None
    model_seconds: float = 0.0


class Scorer:
    """Scores batches and tells a broken runtime from poison events with a probe row.

    The probe is the last row the model scored to a finite result (zeros, which the
    warm-up ran, until the first batch succeeds).
    """

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor
        self.probe = np.zeros((1, predictor.schema.n_features), dtype=np.float32)

    def score(self, events: Sequence[Event]) -> Scored:
        """Decode, validate, run and post-process ``events``.

        Never raises for bad events; raises :class:`ModelUnavailable` (having dead-lettered
        nothing) when the model cannot score at all.
        """
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
        array, good = _validate(self.predictor, good, instances, result)
        if not good:
            return result
        started = time.perf_counter()
        scores, good = self._run(good, array, result)
        result.model_seconds = time.perf_counter() - started
        if not good:
            return result
        result.scores = scores
        result.predictions = list(zip(good, self.predictor.postprocess(scores), strict=True))
        return result

    def healthy(self) -> str | None:
        """None when the model scores the probe row; otherwise what went wrong."""
        try:
            scores = self.predictor.run(self.probe)
        except Exception as error:
            return f"{type(error).__name__}: {error}"
        return None if _finite_rows(scores).all() else "non-finite result for the probe row"

    def _run(
        self, events: list[Event], array: np.ndarray, result: Scored
    ) -> tuple[np.ndarray, list[Event]]:
        try:
            scores: np.ndarray = self.predictor.run(array)
        except Exception as error:
            self._raise_if_broken(f"{type(error).__name__}: {error}")
            return self._one_by_one(events, array, result)
        finite = _finite_rows(scores)
        if finite.all():
            self.probe = array[-1:].copy()
            return scores, events
        if not finite.any():
            self._raise_if_broken("non-finite result for every row")
        # The model ran; the rows it could not score are those events' doing.
        kept: list[Event] = []
        for event, ok in zip(events, finite.tolist(), strict=True):
            if ok:
                kept.append(event)
            else:
                result.dead.append((event, PoisonEvent("inference", "model returned a non-finite")))
        self.probe = array[finite][-1:].copy() if finite.any() else self.probe
        return scores[finite], kept

    def _one_by_one(
        self, events: list[Event], array: np.ndarray, result: Scored
    ) -> tuple[np.ndarray, list[Event]]:
        kept_scores: list[np.ndarray] = []
        kept: list[Event] = []
        dead: list[tuple[Event, PoisonEvent]] = []
        for index, event in enumerate(events):
            try:
                row = self.predictor.run(array[index : index + 1])
            except Exception as error:
                dead.append((event, PoisonEvent("inference", f"model call failed: {error!r}")))
                continue
            if not _finite_rows(row).all():
                dead.append((event, PoisonEvent("inference", "model returned a non-finite")))
                continue
            kept_scores.append(row)
            kept.append(event)
        if dead and not kept:
            # Every row failed: the probe decides between a broken model and poison events.
            self._raise_if_broken(dead[0][1].detail)
        result.dead.extend(dead)
        if not kept_scores:
            return np.empty((0,), dtype=np.float32), kept
        return np.concatenate(kept_scores), kept

    def _raise_if_broken(self, batch_error: str) -> None:
        problem = self.healthy()
        if problem is not None:
            raise ModelUnavailable(f"{batch_error} (probe row: {problem})")


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


def _finite_rows(scores: np.ndarray) -> np.ndarray:
    flat = scores.reshape(len(scores), -1)
    return np.isfinite(flat).all(axis=1)
