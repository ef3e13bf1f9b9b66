"""What turns a request and upstream outputs into a stage's rows, and its scores into output.

The model itself (local or remote) only sees a 2-D float32 array, the shared inference
contract; adapters own the domain: text features in, labels and entity spans out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import features
from .manifest import PipelineManifest, StageRecord
from .spec import StageSpec

OUTSIDE = "O"


class MissingInput(Exception):
    """An upstream output this stage needs is absent (that stage was skipped)."""


@dataclass
class TextClassifier:
    classes: list[str]
    buckets: int

    def rows(self, texts: Sequence[str], upstream: dict[str, list[Any]]) -> tuple[np.ndarray, Any]:
        return features.text_rows(texts, self.buckets), None

    def decode(self, scores: np.ndarray, context: Any) -> list[Any]:
        labels = scores.argmax(axis=1).tolist()
        return [
            {
                "label": self.classes[i],
                "scores": {c: round(float(p), 6) for c, p in zip(self.classes, row, strict=True)},
            }
            for i, row in zip(labels, scores, strict=True)
        ]


@dataclass
class TokenTagger:
    """Tags tokens given the upstream label (the condition); spans of equal tags merge."""

    tags: list[str]
    buckets: int
    condition_stage: str
    conditions: list[str]
    label_mask: dict[str, list[str]]

    def rows(self, texts: Sequence[str], upstream: dict[str, list[Any]]) -> tuple[np.ndarray, Any]:
        outputs = upstream.get(self.condition_stage)
        if outputs is None:
            raise MissingInput(f"no output from {self.condition_stage!r}")
        parts: list[np.ndarray] = []
        context: list[tuple[str, str, list[features.Token]]] = []
        for text, output in zip(texts, outputs, strict=True):
            condition = str(output["label"]) if isinstance(output, dict) else ""
            tokens = features.tokenize(text)
            context.append((text, condition, tokens))
            parts.append(features.token_rows(tokens, condition, self.conditions, self.buckets))
        width = features.token_width(self.buckets, self.conditions)
        rows = np.vstack(parts) if parts else np.zeros((0, width), dtype=np.float32)
        return rows, context

    def decode(self, scores: np.ndarray, context: Any) -> list[Any]:
        results: list[Any] = []
        offset = 0
        for text, condition, tokens in context:
            block = scores[offset : offset + len(tokens)]
            offset += len(tokens)
            allowed = set(self.label_mask.get(condition, self.tags)) | {OUTSIDE}
            mask = np.array([tag in allowed for tag in self.tags])
            masked = np.where(mask, block, -1.0) if len(block) else block
            spans: list[dict[str, Any]] = []
            for token, row in zip(tokens, masked, strict=True):
                index = int(row.argmax())
                tag, score = self.tags[index], float(row[index])
                if tag == OUTSIDE:
                    continue
                last = spans[-1] if spans else None
                if last and last["type"] == tag and not text[last["end"] : token.start].strip():
                    last["end"] = token.end
                    last["_scores"].append(score)
                else:
                    spans.append(
                        {"type": tag, "start": token.start, "end": token.end, "_scores": [score]}
                    )
            results.append(
                [
                    {
                        "type": s["type"],
                        "text": text[s["start"] : s["end"]],
                        "start": s["start"],
                        "end": s["end"],
                        "score": round(min(s["_scores"]), 6),
                    }
                    for s in spans
                ]
            )
        return results


Adapter = TextClassifier | TokenTagger


def build_adapter(stage: StageSpec, manifest: PipelineManifest) -> Adapter:
    record = stage_record(stage, manifest)
    if stage.adapter == "text_classifier":
        expected = manifest.featurizer.text_buckets
        adapter: Adapter = TextClassifier(record.classes, expected)
    else:
        condition = stage.stage_inputs[0]
        conditions = manifest.conditions.get(stage.name)
        if conditions is None:
            raise CompatibilityError(
                f"stage {stage.name!r}: the pipeline manifest records no conditions for it"
            )
        upstream = manifest.stages.get(condition)
        if upstream is None or sorted(upstream.classes) != sorted(conditions):
            raise CompatibilityError(
                f"stage {stage.name!r} was trained for conditions {conditions}, but its input "
                f"{condition!r} gives {upstream.classes if upstream else 'nothing recorded'}"
            )
        buckets = manifest.featurizer.token_buckets
        expected = features.token_width(buckets, conditions)
        adapter = TokenTagger(record.classes, buckets, condition, conditions, manifest.label_mask)
    if record.n_features != expected:
        raise CompatibilityError(
            f"stage {stage.name!r}: model {record.name} takes {record.n_features} features, "
            f"the {stage.adapter} adapter builds {expected}"
        )
    return adapter


class CompatibilityError(Exception):
    """Stages whose schemas do not fit together; the pipeline refuses to start."""


def stage_record(stage: StageSpec, manifest: PipelineManifest) -> StageRecord:
    key = stage.model or stage.name
    record = manifest.stages.get(key)
    if record is None:
        raise CompatibilityError(
            f"stage {stage.name!r}: model {key!r} is not in the pipeline manifest "
            f"(recorded: {', '.join(manifest.stages)})"
        )
    return record
