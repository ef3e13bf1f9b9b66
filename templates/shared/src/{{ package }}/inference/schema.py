"""Turn request instances into the model's 2-D float32 array, or say exactly what is wrong.

The fast path costs one pass over the values and one ``numpy`` conversion; the slow path
runs only for bad input, to name the instance and the field.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import InputSchemaError, Problem
from .manifest import InputSpec

_NUMBER = (int, float)
_MAX_PROBLEMS = 10
_FLOAT32_MAX = float(np.finfo(np.float32).max)


class InputSchema:
    """The manifest's input description, with conversion of JSON-like instances."""

    def __init__(self, spec: InputSpec) -> None:
        self.name = spec.name
        self.n_features = spec.n_features
        self.features: list[str] | None = spec.features
        self.max_abs = min(spec.max_abs or _FLOAT32_MAX, _FLOAT32_MAX)
        if self.features is not None and len(self.features) != self.n_features:
            raise ValueError(
                f"manifest lists {len(self.features)} feature names for {self.n_features} columns"
            )

    def field(self, column: int) -> str | int:
        """The name of a column in messages: its feature name when known, else its index."""
        return self.features[column] if self.features else column

    def to_array(self, instances: Any, loc: str = "instances") -> np.ndarray:
        """Validate ``instances`` (list of lists, or list of dicts keyed by feature name)."""
        if not isinstance(instances, list) or not instances:
            raise InputSchemaError([Problem((loc,), "must be a non-empty list of instances")])
        keyed = isinstance(instances[0], dict)
        rows = self._rows_from_dicts(instances, loc) if keyed else instances
        width = self.n_features
        for row in rows:
            if type(row) is not list or len(row) != width:
                raise InputSchemaError(self._diagnose(rows, loc))
            for value in row:
                if type(value) is not float and type(value) is not int:
                    raise InputSchemaError(self._diagnose(rows, loc))
        try:  # float64 holds every JSON number exactly enough to compare it with the limit
            exact = np.array(rows, dtype=np.float64)
        except (OverflowError, ValueError):
            raise InputSchemaError(self._diagnose(rows, loc)) from None
        if not np.abs(exact).max() <= self.max_abs:  # also False for NaN and infinity
            raise InputSchemaError(self._diagnose(rows, loc))
        return exact.astype(np.float32)

    def from_array(self, tensor: Any, loc: str = "inputs") -> np.ndarray:
        """Validate an already numeric tensor (binary protocols): shape and finiteness."""
        with np.errstate(over="ignore"):
            array: np.ndarray = np.asarray(tensor, dtype=np.float32)
        if array.ndim == 1 and array.size == self.n_features:
            array = array.reshape(1, -1)
        if array.ndim != 2 or array.shape[1] != self.n_features or array.shape[0] == 0:
            expected = f"[-1, {self.n_features}]"
            raise InputSchemaError(
                [Problem((loc,), f"shape {list(array.shape)} does not match {expected}")]
            )
        if not np.isfinite(array).all():
            row, col = (int(i) for i in np.argwhere(~np.isfinite(array))[0])
            raise InputSchemaError(
                [Problem((loc, row, self.field(col)), "must be a finite number")]
            )
        if self.max_abs < _FLOAT32_MAX and np.abs(array).max() > self.max_abs:
            row, col = (int(i) for i in np.argwhere(np.abs(array) > self.max_abs)[0])
            message = f"out of the model's range (magnitude at most {self.max_abs:g})"
            raise InputSchemaError([Problem((loc, row, self.field(col)), message)])
        return array

    def _rows_from_dicts(self, instances: list[Any], loc: str) -> list[Any]:
        if self.features is None:
            raise InputSchemaError(
                [Problem((loc,), "this model has no feature names: send lists of numbers")]
            )
        features = self.features
        rows: list[Any] = []
        for index, instance in enumerate(instances):
            if not isinstance(instance, dict):
                raise InputSchemaError([Problem((loc, index), "must be an object like the others")])
            try:
                rows.append([instance[name] for name in features])
            except KeyError:
                missing = [name for name in features if name not in instance]
                raise InputSchemaError(
                    [Problem((loc, index, name), "field required") for name in missing][
                        :_MAX_PROBLEMS
                    ]
                ) from None
            if len(instance) != len(features):
                unknown = [key for key in instance if key not in set(features)]
                raise InputSchemaError(
                    [Problem((loc, index, key), "unknown feature") for key in unknown][
                        :_MAX_PROBLEMS
                    ]
                )
        return rows

    def _diagnose(self, rows: Sequence[Any], loc: str, fallback: bool = True) -> list[Problem]:
        problems: list[Problem] = []
        for index, row in enumerate(rows):
            if not isinstance(row, list):
                problems.append(Problem((loc, index), "must be a list of numbers or an object"))
            elif len(row) != self.n_features:
                problems.append(
                    Problem((loc, index), f"has {len(row)} values, expected {self.n_features}")
                )
            else:
                for column, value in enumerate(row):
                    message = _value_problem(value, self.max_abs)
                    if message:
                        problems.append(Problem((loc, index, self.field(column)), message))
            if len(problems) >= _MAX_PROBLEMS:
                break
        return problems or ([Problem((loc,), "invalid instances")] if fallback else [])


def _value_problem(value: Any, max_abs: float = _FLOAT32_MAX) -> str | None:
    if isinstance(value, bool) or not isinstance(value, _NUMBER):
        return f"must be a number, got {type(value).__name__}"
    # ints are compared exactly: one too large for a float overflows math.isfinite
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number, got {value}"
    if abs(value) > _FLOAT32_MAX:
        return "out of float32 range"
    if abs(value) > max_abs:
        return f"out of the model's range (magnitude at most {max_abs:g})"
    return None
