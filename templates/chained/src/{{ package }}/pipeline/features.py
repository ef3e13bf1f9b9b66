"""Text features for the demo stages: tokens and hashed n-grams, stateless and stable.

Hashing (crc32, not Python's salted ``hash``) keeps the feature columns identical across
processes and machines, so a stage served remotely sees the rows the pipeline built.
"""

from __future__ import annotations

import itertools
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

FEATURIZER_VERSION = 1
_TOKEN = re.compile(r"\d+(?::\d+)?|[^\W\d_]+(?:'[^\W\d_]+)?|[^\w\s]", re.UNICODE)
TOKEN_FLAGS = ("is_digit", "is_title", "has_colon", "is_first")


@dataclass(frozen=True)
class Token:
    text: str
    start: int
    end: int


def tokenize(text: str) -> list[Token]:
    return [Token(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def bucket(feature: str, buckets: int) -> int:
    return zlib.crc32(feature.encode("utf-8")) % buckets


def text_rows(texts: Sequence[str], buckets: int) -> np.ndarray:
    """Counts of lower-cased unigrams and bigrams, hashed into ``buckets`` columns."""
    rows = np.zeros((len(texts), buckets), dtype=np.float32)
    for i, text in enumerate(texts):
        words = [t.text.lower() for t in tokenize(text)]
        for word in words:
            rows[i, bucket(f"w={word}", buckets)] += 1.0
        for left, right in itertools.pairwise(words):
            rows[i, bucket(f"b={left}_{right}", buckets)] += 1.0
    return rows


def token_width(buckets: int, conditions: Sequence[str]) -> int:
    return buckets + len(TOKEN_FLAGS) + len(conditions)


def token_rows(
    tokens: Sequence[Token], condition: str, conditions: Sequence[str], buckets: int
) -> np.ndarray:
    """One row per token: hashed context features, shape flags and the condition one-hot.

    ``condition`` (the upstream stage's label, e.g. the intent) is also crossed with the word
    features, so the tagger learns condition-specific readings of the same word.
    """
    width = token_width(buckets, conditions)
    rows = np.zeros((len(tokens), width), dtype=np.float32)
    words = [t.text.lower() for t in tokens]
    for i, token in enumerate(tokens):
        word = words[i]
        prev_word = words[i - 1] if i > 0 else "<s>"
        next_word = words[i + 1] if i + 1 < len(words) else "</s>"
        for feature in (
            f"w={word}",
            f"suf={word[-3:]}",
            f"pre={prev_word}",
            f"nxt={next_word}",
            f"pre2={words[i - 2] if i > 1 else '<s>'}",
            f"c={condition}|w={word}",
            f"c={condition}|pre={prev_word}",
        ):
            rows[i, bucket(feature, buckets)] += 1.0
        flags = (
            token.text.isdigit() or ":" in token.text,
            token.text[:1].isupper(),
            ":" in token.text,
            i == 0,
        )
        rows[i, buckets : buckets + len(flags)] = flags
        if condition in conditions:
            rows[i, buckets + len(TOKEN_FLAGS) + list(conditions).index(condition)] = 1.0
    return rows
