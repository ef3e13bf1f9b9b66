"""``python -m <package>.pipeline.demo``: train the demo stage models and write the manifests.

Three real models, trained offline on the generated corpus (``corpus.py``):

- ``intent``: TF-IDF + logistic regression over hashed word n-grams (4 intents);
- ``urgency``: the same kind of model for urgent vs normal requests, independent of intent;
- ``entities``: a token classifier whose features are crossed with the intent, so the intent
  selects how it reads a sentence; the entity types each intent allows (learnt from the
  corpus) are recorded in the pipeline manifest and applied when decoding.

Each stage gets ``models/<stage>/manifest.json`` in the shared format (sha256 verified when
loaded); ``models/pipeline.json`` records every stage's name, version, sha256 and schema.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ..demo_model import export_onnx, onnx_scores
from ..inference.drift import score_histogram
from ..inference.manifest import MANIFEST_NAME, Manifest, sha256_of
from . import corpus, features
from .manifest import PIPELINE_MANIFEST, PipelineManifest

SEED = 7
# Hashed feature columns: wide enough for few collisions, narrow enough that a remote stage's
# rows stay small on the wire (a token row is TOKEN_BUCKETS + 8 floats).
TEXT_BUCKETS = 1024
TOKEN_BUCKETS = 256
VERSION = "1.0.0"
PARITY_TOLERANCE = 1e-4


def _train(x: np.ndarray, y: list[str], tfidf: bool) -> Any:
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    classifier = LogisticRegression(max_iter=2000, C=5.0)
    model = make_pipeline(TfidfTransformer(), classifier) if tfidf else classifier
    return model.fit(x, np.asarray(y))


def _export(model: Any, x_test: np.ndarray, folder: Path, model_format: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    reference = np.asarray(model.predict_proba(x_test))
    if model_format == "sklearn":
        import skops.io

        path = folder / "model.skops"
        skops.io.dump(model, path)
        trusted = skops.io.get_untrusted_types(file=path)
        exported = np.asarray(skops.io.load(path, trusted=trusted).predict_proba(x_test))
    else:
        path = folder / "model.onnx"
        export_onnx(model, x_test.shape[1], path)
        exported = onnx_scores(path, x_test)
    gap = float(np.abs(reference - exported).max())
    if gap > PARITY_TOLERANCE:
        raise RuntimeError(f"{path}: exported model differs from the trained one by {gap:.2e}")
    for stale in folder.glob("model.*"):
        if stale != path:
            stale.unlink()
    return path


def _stage_manifest(
    folder: Path,
    path: Path,
    name: str,
    classes: list[str],
    width: int,
    model_format: str,
    scores: np.ndarray,
    accuracy: float,
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "schema_version": 1,
        "name": name,
        "version": VERSION,
        "framework": "sklearn" if model_format == "sklearn" else "onnx",
        "file": path.name,
        "sha256": sha256_of(path),
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source": "demo",
        "task": "classification",
        "input": {"name": "input", "dtype": "float32", "shape": [None, width], "features": None},
        "output": {"name": "probabilities", "classes": classes},
        "baseline": {"score_histogram": score_histogram(scores.max(axis=1)).model_dump()},
        "metrics": {"holdout_accuracy": round(accuracy, 4)},
    }
    Manifest.model_validate(document)
    (folder / MANIFEST_NAME).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return document


def build(models_dir: Path, model_format: str = "onnx") -> PipelineManifest:
    """Train, export, check and describe the three stage models and the pipeline."""
    train = corpus.generate(2400, SEED, held_out=False)
    test = corpus.generate(600, SEED + 1, held_out=True)
    stages: dict[str, dict[str, Any]] = {}

    x_train = features.text_rows([e.text for e in train], TEXT_BUCKETS)
    x_test = features.text_rows([e.text for e in test], TEXT_BUCKETS)
    intents: list[str] = []
    for stage, field in (("intent", "intent"), ("urgency", "urgency")):
        model = _train(x_train, [getattr(e, field) for e in train], tfidf=True)
        classes = [str(c) for c in model.classes_]
        if stage == "intent":
            intents = classes
        truth = np.asarray([classes.index(getattr(e, field)) for e in test])
        path = _export(model, x_test, models_dir / stage, model_format)
        scores = np.asarray(model.predict_proba(x_test))
        accuracy = float((scores.argmax(axis=1) == truth).mean())
        document = _stage_manifest(
            models_dir / stage,
            path,
            f"{stage}-classifier",
            classes,
            TEXT_BUCKETS,
            model_format,
            scores,
            accuracy,
        )
        stages[stage] = {"document": document, "dir": stage}

    def token_set(examples: list[corpus.Example]) -> tuple[np.ndarray, list[str]]:
        rows = [
            features.token_rows(features.tokenize(e.text), e.intent, intents, TOKEN_BUCKETS)
            for e in examples
        ]
        return np.vstack(rows), [tag for e in examples for tag in e.tags]

    xt_train, yt_train = token_set(train)
    xt_test, yt_test = token_set(test)
    tagger = _train(xt_train, yt_train, tfidf=False)
    tags = [str(c) for c in tagger.classes_]
    path = _export(tagger, xt_test, models_dir / "entities", model_format)
    scores = np.asarray(tagger.predict_proba(xt_test))
    predicted = scores.argmax(axis=1)
    entity_rows = [i for i, tag in enumerate(yt_test) if tag != corpus.OUTSIDE]
    entity_recall = float(
        np.mean([tags[predicted[i]] == yt_test[i] for i in entity_rows]) if entity_rows else 0.0
    )
    document = _stage_manifest(
        models_dir / "entities",
        path,
        "entity-tagger",
        tags,
        features.token_width(TOKEN_BUCKETS, intents),
        model_format,
        scores,
        entity_recall,
    )
    stages["entities"] = {"document": document, "dir": "entities"}
    allowed: dict[str, set[str]] = {intent: set() for intent in intents}
    for example in train:
        allowed[example.intent].update(t for t in example.tags if t != corpus.OUTSIDE)

    pipeline: dict[str, Any] = {
        "schema_version": 1,
        "name": "assistant-pipeline",
        "version": VERSION,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "featurizer": {
            "version": features.FEATURIZER_VERSION,
            "text_buckets": TEXT_BUCKETS,
            "token_buckets": TOKEN_BUCKETS,
        },
        "stages": {
            name: {
                "dir": entry["dir"],
                "name": entry["document"]["name"],
                "version": entry["document"]["version"],
                "framework": entry["document"]["framework"],
                "file": entry["document"]["file"],
                "sha256": entry["document"]["sha256"],
                "n_features": entry["document"]["input"]["shape"][1],
                "classes": entry["document"]["output"]["classes"],
                "holdout_accuracy": entry["document"]["metrics"]["holdout_accuracy"],
            }
            for name, entry in stages.items()
        },
        "conditions": {"entities": intents},
        "label_mask": {intent: sorted(labels) for intent, labels in allowed.items()},
    }
    manifest = PipelineManifest.model_validate(pipeline)
    (models_dir / PIPELINE_MANIFEST).write_text(
        json.dumps(pipeline, indent=2) + "\n", encoding="utf-8"
    )
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train the demo stage models")
    parser.add_argument("--format", default="onnx", choices=["onnx", "sklearn", "torch"])
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    args = parser.parse_args(argv)
    # torch projects serve the demo stages through onnxruntime: linear models gain nothing
    # from torch, and the stages stay a few kilobytes each.
    manifest = build(args.models_dir, "sklearn" if args.format == "sklearn" else "onnx")
    for name, stage in manifest.stages.items():
        print(
            f"{name}: {stage.name} {stage.version} ({stage.framework}) "
            f"held-out accuracy {stage.holdout_accuracy:.3f}, sha256 {stage.sha256[:12]}"
        )
    print(f"wrote {args.models_dir / PIPELINE_MANIFEST}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
