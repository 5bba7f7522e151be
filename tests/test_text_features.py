"""The detector's fast reading of a message gives scikit-learn's own numbers."""

from __future__ import annotations

import numpy as np
import pytest

from bot.content.library import ContentLibrary
from bot.safety.detector import DangerDetector
from bot.safety.examples import detector_examples
from bot.settings import load_settings
from bot.text_features import positive_probability, tfidf_rows
from tests.conftest import ROOT

# Danger, everyday, empty, a word no pack has, emoji, mixed scripts, tone marks with and
# without, pinyin, a long story, and text the vocabularies never saw.
PROBES = [
    "my boss took my passport and I can't leave", "help!!! my math homework", "", "   ",
    "zzxqv", "🆘🆘", "救命 help me", "em bị nhốt", "em bi nhot", "wo bei guan qi lai le",
    "He said the job in Bangkok paid well. " * 12, "/menu", "的的的的的", "!!!???",
]


@pytest.fixture(scope="module")
def detector() -> DangerDetector:
    library = ContentLibrary.load(load_settings(ROOT))
    examples = detector_examples(library)[::7]  # a smaller model, trained in seconds
    return DangerDetector.train(examples)


def test_the_fast_path_gives_scikit_learns_probabilities(detector: DangerDetector) -> None:
    for model in (detector.danger_model, detector.writer_model):
        expected = model.predict_proba(PROBES)[:, 1]
        assert np.allclose(positive_probability(model, PROBES), expected, atol=1e-5)
        union = model.steps[0][1]
        rows = tfidf_rows(union, PROBES)
        assert rows.shape == union.transform(PROBES).shape
        assert np.allclose(rows.toarray(), union.transform(PROBES).toarray(), atol=1e-6)


def test_one_message_at_a_time_is_the_same_as_all_at_once(detector: DangerDetector) -> None:
    together = positive_probability(detector.danger_model, PROBES)
    alone = [positive_probability(detector.danger_model, [text])[0] for text in PROBES]
    assert np.allclose(together, alone, atol=1e-9)


def test_other_models_are_asked_as_usual() -> None:
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    texts, labels = ["help me", "fun game", "trapped", "homework"] * 3, [1, 0, 1, 0] * 3
    plain = make_pipeline(CountVectorizer(), LogisticRegression()).fit(texts, labels)
    assert np.allclose(positive_probability(plain, texts), plain.predict_proba(texts)[:, 1])
