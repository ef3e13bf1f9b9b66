"""Does a converted model still give the source model's answers?

Compares scores row by row (max absolute and relative difference), top labels
(agreement), and accuracy against the labels when the sample has them. A variant that
misses its tolerance fails with its worst rows shown, so the cause can be looked at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .config import Tolerance

WORST_SHOWN = 5
RELATIVE_FLOOR = 1e-6


@dataclass
class Parity:
    rows: int
    max_abs_diff: float
    max_rel_diff: float
    label_agreement: float | None
    accuracy: float | None
    source_accuracy: float | None
    worst: list[dict[str, Any]]
    problems: list[str]
    range_diff: float | None = None

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def accuracy_delta(self) -> float | None:
        if self.accuracy is None or self.source_accuracy is None:
            return None
        return self.accuracy - self.source_accuracy

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "max_abs_diff": self.max_abs_diff,
            "max_rel_diff": self.max_rel_diff,
            "label_agreement": self.label_agreement,
            "accuracy": self.accuracy,
            "source_accuracy": self.source_accuracy,
            "accuracy_delta": self.accuracy_delta,
            "range_diff": self.range_diff,
            "passed": self.passed,
            "problems": self.problems,
            "worst": self.worst,
        }


def compare(
    reference: np.ndarray,
    candidate: np.ndarray,
    tolerance: Tolerance,
    labels: np.ndarray | None = None,
) -> Parity:
    """Judge ``candidate`` scores against ``reference`` scores of the same rows."""
    reference = np.asarray(reference, dtype=np.float64).reshape(len(reference), -1)
    candidate = np.asarray(candidate, dtype=np.float64).reshape(len(candidate), -1)
    if reference.shape != candidate.shape:
        return Parity(
            rows=len(reference),
            max_abs_diff=float("inf"),
            max_rel_diff=float("inf"),
            label_agreement=None,
            accuracy=None,
            source_accuracy=None,
            worst=[],
            problems=[f"output shape {candidate.shape} differs from the source {reference.shape}"],
        )
    gaps = np.abs(reference - candidate)
    relative = gaps / np.maximum(np.abs(reference), RELATIVE_FLOOR)
    per_row = gaps.max(axis=1)
    classifier = reference.shape[1] > 1
    agreement = accuracy = source_accuracy = None
    if classifier:
        agreement = float((reference.argmax(axis=1) == candidate.argmax(axis=1)).mean())
        if labels is not None:
            accuracy = float((candidate.argmax(axis=1) == labels).mean())
            source_accuracy = float((reference.argmax(axis=1) == labels).mean())
    result = Parity(
        rows=len(reference),
        max_abs_diff=float(gaps.max()),
        max_rel_diff=float(relative.max()),
        label_agreement=agreement,
        accuracy=accuracy,
        source_accuracy=source_accuracy,
        worst=[
            {
                "row": int(i),
                "abs_diff": float(per_row[i]),
                "source": [round(v, 6) for v in reference[i].tolist()[:10]],
                "exported": [round(v, 6) for v in candidate[i].tolist()[:10]],
            }
            for i in np.argsort(per_row)[::-1][:WORST_SHOWN]
        ],
        problems=[],
    )
    if not classifier:
        spread = float(np.ptp(reference)) or 1.0
        result.range_diff = result.max_abs_diff / spread
    result.problems = _problems(result, tolerance)
    return result


def _problems(result: Parity, tolerance: Tolerance) -> list[str]:
    found: list[str] = []
    if tolerance.max_abs_diff is not None and result.max_abs_diff > tolerance.max_abs_diff:
        found.append(
            f"max abs difference {result.max_abs_diff:.3g} > tolerance {tolerance.max_abs_diff:g}"
        )
    if (
        result.label_agreement is not None
        and result.label_agreement < tolerance.min_label_agreement
    ):
        found.append(
            f"label agreement {result.label_agreement:.4f} < {tolerance.min_label_agreement:g}"
        )
    if (
        result.range_diff is not None
        and tolerance.max_range_diff is not None
        and result.range_diff > tolerance.max_range_diff
    ):
        found.append(
            f"max difference is {result.range_diff:.2%} of the output's range "
            f"(allowed {tolerance.max_range_diff:.0%})"
        )
    delta = result.accuracy_delta
    if (
        delta is not None
        and tolerance.max_accuracy_drop is not None
        and -delta > tolerance.max_accuracy_drop + 1e-12
    ):
        found.append(f"accuracy dropped by {-delta:.4f} (allowed {tolerance.max_accuracy_drop:g})")
    return found


def describe_failure(variant: str, parity: Parity) -> str:
    """A message that names the variant, what failed, and the rows that differ most."""
    lines = [f"{variant}: parity check failed on {parity.rows} rows: " + "; ".join(parity.problems)]
    for worst in parity.worst:
        lines.append(
            f"  row {worst['row']}: max abs diff {worst['abs_diff']:.3g}, "
            f"source {worst['source']} exported {worst['exported']}"
        )
    return "\n".join(lines)
