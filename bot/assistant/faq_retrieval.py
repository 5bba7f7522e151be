"""Which FAQ a question asks, and how sure that is: never a confident wrong answer.

Two readers vote with equal weight: a logistic regression over the TF-IDF views of
``bot.text_features`` (how people type: misspellings, no tone marks, pinyin) and one over
multilingual sentence embeddings (what they mean, in other words). Trained from every FAQ's
phrasings and question in every locale when SafeSteps trains, kept under the build folder.
Below ``faq_answer_confidence`` the action offers "Did you mean ..." instead of answering,
and below ``faq_suggest_confidence`` it gives the out-of-scope reply (``choose``).

The readers also learn one more class, ``NOT_A_FAQ``, from a fixed sample of the packs'
everyday messages (homework, games, chit-chat; never questions about the lessons): without it
they spread all their confidence over the FAQs, and more phrasings make them surer of a wrong
FAQ for a message that asks none. When it comes first, no FAQ is answered.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.content import models
from bot.content.library import ContentLibrary
from bot.model_cache import load_or_build
from bot.text_features import embed, ngram_features

RETRIEVER_VERSION = 3
NGRAM_WEIGHT = 0.5
NOT_A_FAQ = "__not_a_faq__"
NOT_A_FAQ_PER_LOCALE = 150  # chosen on the FAQ evaluation's development split (docs/nlu.md)


def faq_phrasings(library: ContentLibrary) -> list[tuple[str, str]]:
    """(text, faq id) for every phrasing and every question of every FAQ."""
    pairs: list[tuple[str, str]] = []
    for faq in library.faqs.values():
        for texts in faq.examples.values():
            pairs += [(text, faq.id) for text in texts]
        pairs += [(text, faq.id) for locale in faq.question
                  if (text := models.text_in(faq.question, locale))]
    return pairs


def everyday_phrasings(library: ContentLibrary, per_locale: int = NOT_A_FAQ_PER_LOCALE
                       ) -> list[tuple[str, str]]:
    """(text, NOT_A_FAQ) for a fixed sample of each locale's everyday messages: the packs'
    hard negatives other than questions about the lessons, the same ones on every machine."""
    pairs: list[tuple[str, str]] = []
    for files in library.safety_examples.values():
        texts = sorted({item.text for examples in files
                        for category, items in examples.negatives.items()
                        if category != "lesson-questions" for item in items},
                       key=lambda t: hashlib.sha256(t.encode("utf-8")).digest())
        pairs += [(text, NOT_A_FAQ) for text in texts[:per_locale]]
    return pairs


@dataclass
class FaqRetriever:
    ngram_model: Any
    dense_model: Any
    fingerprint: str

    @classmethod
    def train(cls, pairs: Sequence[tuple[str, str]], fingerprint: str = "") -> FaqRetriever:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        texts = [t for t, _ in pairs]
        labels = [f for _, f in pairs]
        ngram_model = make_pipeline(ngram_features(), LogisticRegression(C=30, max_iter=3000))
        ngram_model.fit(texts, labels)
        dense_model = LogisticRegression(C=100, max_iter=3000).fit(embed(texts), labels)
        return cls(ngram_model, dense_model, fingerprint)

    def rank(self, text: str, limit: int = 3) -> list[tuple[str, float]]:
        """The likeliest FAQs for ``text``, best first, with their probability; first of all
        ``(NOT_A_FAQ, p)`` when the message most likely asks none."""
        votes = NGRAM_WEIGHT * self.ngram_model.predict_proba([text])[0] + \
            (1 - NGRAM_WEIGHT) * self.dense_model.predict_proba(embed([text]))[0]
        ranked = [(str(self.ngram_model.classes_[i]), float(votes[i]))
                  for i in votes.argsort()[::-1]]
        faqs = [pair for pair in ranked if pair[0] != NOT_A_FAQ][:limit]
        return [ranked[0], *faqs] if ranked[0][0] == NOT_A_FAQ else faqs

    def best_faq(self, ranking: list[tuple[str, float]]) -> str:
        """The likeliest FAQ of a ranking, whether or not NOT_A_FAQ came first."""
        return next(faq for faq, _ in ranking if faq != NOT_A_FAQ)


@dataclass(frozen=True)
class FaqChoice:
    """What to do with a question: answer one FAQ, offer some, or neither (out of scope)."""

    answer: str | None
    suggestions: tuple[str, ...] = ()


def choose(ranking: list[tuple[str, float]], answer_confidence: float,
           suggest_confidence: float) -> FaqChoice:
    """The FAQ to answer when the best is sure enough; otherwise, when it is at least
    plausible, the FAQs worth offering ("Did you mean ..."): each at half that confidence.
    When the message most likely asks no FAQ, none is answered; the FAQs that are at least
    plausible are still offered."""
    best, confidence = ranking[0]
    if best == NOT_A_FAQ:
        return FaqChoice(None, tuple(f for f, p in ranking[1:] if p >= suggest_confidence))
    if confidence >= answer_confidence:
        return FaqChoice(best)
    if confidence >= suggest_confidence:
        return FaqChoice(None, tuple(f for f, p in ranking if p >= suggest_confidence / 2))
    return FaqChoice(None)


def load_retriever(library: ContentLibrary, folder: Path) -> FaqRetriever:
    pairs = faq_phrasings(library) + everyday_phrasings(library)
    digest = hashlib.sha256(f"{RETRIEVER_VERSION}".encode())
    for pair in pairs:
        digest.update(json.dumps(pair, ensure_ascii=False).encode())
    key = digest.hexdigest()[:16]
    return load_or_build(folder, "faq-retriever", key,
                         lambda: FaqRetriever.train(pairs, key), FaqRetriever)

