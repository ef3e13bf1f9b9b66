"""scikit-learn models scored straight from their fitted attributes, where that gives the
same numbers as the model's own method.

For one row, scikit-learn spends most of a small model's time around the model rather than
in it: input validation, configuration contexts, namespace checks, a joblib task per tree.
For the most common families (random forests and extra trees; standard-scaled logistic and
least-squares linear models) the arithmetic is a few numpy operations, done here in the same
order and dtypes as scikit-learn does it. Every shortcut is checked at load against the
model's own method on probe rows; any difference keeps the model's method.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

Method = Callable[[np.ndarray], np.ndarray]
_PROBE_SEED = 20


def fast_method(model: Any, width: int, proba: bool) -> Method | None:
    """A faster ``predict_proba`` (``proba``) or ``predict`` of ``model``, or None when the
    model is of another family or the shortcut disagrees with the model on the probe rows."""
    steps = model.steps if hasattr(model, "steps") else [("model", model)]
    final = steps[-1][1]
    before = _preprocessing(model, [step for _, step in steps[:-1]])
    method = _forest(final, before) if proba else None
    method = method or (_logistic(final, before) if proba else _least_squares(final, before))
    if method is None:
        return None
    reference = model.predict_proba if proba else model.predict
    probe = _probe_rows(width)
    fast, slow = method(probe), np.asarray(reference(probe))
    if fast.shape != slow.shape or not np.allclose(fast, slow, rtol=0, atol=1e-9):
        name = type(final).__name__
        log.warning("the %s shortcut disagrees with the model: using its own method", name)
        return None
    return method


def _probe_rows(width: int) -> np.ndarray:
    """Zeros, ones, a wide ramp, counting numbers and random rows of several scales."""
    rng = np.random.default_rng(_PROBE_SEED)
    fixed = [np.zeros(width), np.ones(width), np.linspace(-1e3, 1e3, width), np.arange(width)]
    spread = [rng.normal(scale=scale, size=width) for scale in (0.1, 1, 10, 100, 1000)]
    return np.vstack(fixed + spread).astype(np.float32)


def _preprocessing(model: Any, steps: list[Any]) -> Method:
    """What the pipeline does before its last step: nothing, standard scaling done here, or
    any other transformers through the pipeline's own ``transform``."""
    from sklearn.preprocessing import StandardScaler

    if not steps:
        return _same
    if any(type(step) is not StandardScaler for step in steps):
        transform: Method = model[:-1].transform
        return transform
    scalers = [
        (step.mean_ if step.with_mean else None, step.scale_ if step.with_std else None)
        for step in steps
    ]

    def scaled(batch: np.ndarray) -> np.ndarray:
        """``StandardScaler.transform`` of each step: a copy in the batch's float dtype,
        centred then divided in place by the statistics cast to that dtype, as scikit-learn
        does."""
        rows = np.array(batch, dtype=batch.dtype if batch.dtype.kind == "f" else np.float64)
        for mean, scale in scalers:
            if mean is not None:
                rows -= mean.astype(rows.dtype)
            if scale is not None:
                rows /= scale.astype(rows.dtype)
        return rows

    return scaled


def _same(batch: np.ndarray) -> np.ndarray:
    return batch


def _forest(final: Any, before: Method) -> Method | None:
    """A forest runs each tree as a joblib task wrapped in a configuration context and fresh
    warning filters: for one row about thirty times the trees' own work. Summing the trees'
    normalised leaf counts directly gives the same probabilities."""
    from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier

    if type(final) not in (RandomForestClassifier, ExtraTreesClassifier):
        return None
    if final.n_outputs_ != 1 or not final.estimators_:
        return None
    trees = [estimator.tree_ for estimator in final.estimators_]
    n_classes = int(final.n_classes_)

    def predict_proba(batch: np.ndarray) -> np.ndarray:
        rows = np.ascontiguousarray(before(batch), dtype=np.float32)
        total = np.zeros((len(rows), n_classes))
        for tree in trees:
            counts = tree.predict(rows)[:, :n_classes]
            sums = counts.sum(axis=1, keepdims=True)
            sums[sums == 0.0] = 1.0
            total += counts / sums
        total /= len(trees)
        return total

    return predict_proba


def _logistic(final: Any, before: Method) -> Method | None:
    """``LogisticRegression.predict_proba``: the logistic of the decision for two classes,
    the softmax of the decisions for more (scikit-learn 1.5 and newer; older releases'
    one-vs-rest models disagree on the probe and keep their own method)."""
    from scipy.special import expit
    from sklearn.linear_model import LogisticRegression

    if type(final) is not LogisticRegression:
        return None
    coef_t = final.coef_.T
    intercept = final.intercept_
    binary = len(final.classes_) <= 2

    def predict_proba(batch: np.ndarray) -> np.ndarray:
        decision = before(batch) @ coef_t + intercept
        if binary:
            positive = expit(decision.reshape(-1))
            return np.stack([1 - positive, positive], axis=1)
        decision -= decision.max(axis=1).reshape((-1, 1))
        np.exp(decision, out=decision)
        decision /= decision.sum(axis=1).reshape((-1, 1))
        return decision

    return predict_proba


def _least_squares(final: Any, before: Method) -> Method | None:
    """``predict`` of the plain linear regressors: the rows times the coefficients plus the
    intercept."""
    from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, Ridge

    if type(final) not in (LinearRegression, Ridge, Lasso, ElasticNet):
        return None
    coef = final.coef_ if final.coef_.ndim == 1 else final.coef_.T
    intercept = final.intercept_

    def predict(batch: np.ndarray) -> np.ndarray:
        result: np.ndarray = before(batch) @ coef + intercept
        return result

    return predict
