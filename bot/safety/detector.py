"""The danger detector: a character n-gram model that reads a message the way people type it.

The lexicons catch what is said outright ("help me", "they took my passport"); this model
catches the rest: danger told as a story, implied, misspelled, typed without tone marks, in
pinyin or with wrong characters that sound alike. It is a logistic regression over three views
of a message (folded characters, character n-grams of how it sounds, folded words), trained
from the packs' safety examples, the lexicons' examples and the kit's intents when SafeSteps
trains, and kept under the build folder keyed by the fingerprint of what it learned from.
It runs in the chat API process, so it answers with Rasa and the action server down.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.model_cache import load_or_build
from bot.text_features import embed, ngram_features, positive_probability

# Bump when features or training change, so that an old model is never loaded.
DETECTOR_VERSION = 4
_SENTENCE_END = re.compile(r"(?<=[.!?。！？;；…\n])\s*")
LONG_MESSAGE = 160  # characters; longer messages are also read a few sentences at a time
MAX_WINDOWS = 40


def windows(text: str) -> list[str]:
    """Overlapping pairs of sentences of a long message, where danger is often told late."""
    sentences = [s for s in _SENTENCE_END.split(text) if s.strip()]
    if len(sentences) < 2:
        return []
    pairs = [" ".join(sentences[i:i + 2]) for i in range(len(sentences) - 1)]
    # A very long message is read at its start and its end, where stories begin and ask.
    return pairs if len(pairs) <= MAX_WINDOWS else pairs[:MAX_WINDOWS // 2] + \
        pairs[-MAX_WINDOWS // 2:]


@dataclass(frozen=True)
class Example:
    """One labelled message the detector learns from."""

    text: str
    danger: bool
    writer: str | None = None  # "self" or "other", for danger
    hard: bool = False  # an everyday message written to look like danger


def _pipeline(c: float) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(ngram_features(), LogisticRegression(
        C=c, class_weight="balanced", max_iter=2000, solver="liblinear"))


@dataclass
class DangerDetector:
    """How likely a message is to tell of danger (0..1), and who is writing."""

    danger_model: Any
    writer_model: Any
    fingerprint: str
    trained_on: int = 0
    dense_model: Any = None  # over sentence embeddings, when trained with them
    ngram_weight: float = 1.0

    @classmethod
    def train(cls, examples: Sequence[Example], fingerprint: str = "",
              c: float = 32.0, ngram_weight: float = 1.0, dense_c: float = 10.0,
              hard_weight: float = 10.0) -> DangerDetector:
        """Defaults chosen on the evaluation's development split (scripts/safety_choose.py):
        the packs' hard negatives weigh ten times an easy one (a kit or FAQ phrasing);
        ``ngram_weight`` below 1 adds sentence embeddings (measured, not better; see
        docs/safety.md)."""
        texts = [e.text for e in examples]
        labels = [int(e.danger) for e in examples]
        weights = [hard_weight if e.hard else 1.0 for e in examples]
        danger_model = _pipeline(c).fit(texts, labels, logisticregression__sample_weight=weights)
        dense_model = None
        if ngram_weight < 1.0:
            from sklearn.linear_model import LogisticRegression

            dense_model = LogisticRegression(C=dense_c, class_weight="balanced",
                                             max_iter=3000).fit(embed(texts), labels)
        writers = [e for e in examples if e.danger and e.writer in ("self", "other")]
        labels = [int(e.writer == "other") for e in writers]
        writer_model = _pipeline(c).fit([e.text for e in writers], labels) \
            if len(set(labels)) == 2 else None
        return cls(danger_model, writer_model, fingerprint, len(examples), dense_model,
                   ngram_weight)

    def score(self, text: str) -> float:
        """The probability that ``text`` tells of danger; long messages are also read in
        windows of two sentences, and the highest reading counts."""
        pieces = [text]
        if len(text) > LONG_MESSAGE:
            pieces += windows(text)
        probabilities = positive_probability(self.danger_model, pieces)
        if self.dense_model is None:
            return float(max(probabilities))
        dense = self.dense_model.predict_proba(embed(pieces))[:, 1]
        weight = self.ngram_weight
        return float(max(weight * probabilities + (1 - weight) * dense))

    def reporter_probability(self, text: str) -> float:
        """How likely it is that the writer reports someone else (a parent, a neighbour)."""
        if self.writer_model is None:
            return 0.0
        return float(positive_probability(self.writer_model, [text])[0])


def fingerprint(examples: Iterable[Example]) -> str:
    import sklearn

    digest = hashlib.sha256(f"{DETECTOR_VERSION}|{sklearn.__version__}".encode())
    for e in examples:
        digest.update(json.dumps([e.text, e.danger, e.writer, e.hard],
                                 ensure_ascii=False).encode())
    return digest.hexdigest()[:16]


def load_or_train(examples: Sequence[Example], folder: Path) -> DangerDetector:
    """The detector for these examples: from the build folder when it was trained on exactly
    them, otherwise trained now (a few seconds) and kept for next time."""
    key = fingerprint(examples)
    return load_or_build(folder, "detector", key,
                         lambda: DangerDetector.train(examples, key), DangerDetector)
