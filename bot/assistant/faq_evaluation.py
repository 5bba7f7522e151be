"""FAQ answers on questions phrased by people SafeSteps never learnt from (tests/faq_eval/).

Per locale: top-1 (the retriever's best FAQ is the right one), answered (sure enough to
answer, and right), offered (the right FAQ is the answer or among the "Did you mean"
buttons), wrong answers (sure enough to answer, and wrong), out-of-scope messages that get an
FAQ answer, and questions for a number that get the right country's hotline card. The same
hash split as the safety evaluation: the development split for thresholds, the final split
for figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.assistant.faq_retrieval import FaqRetriever, choose
from bot.assistant.hotline_questions import asks_for_number, named_country
from bot.safety.evaluation import Split, split_of
from bot.settings import AssistantSettings


@dataclass
class FaqResult:
    locale: str
    questions: int = 0
    top1: int = 0
    answered_right: int = 0
    offered: int = 0
    answered_wrong: int = 0
    out_of_scope: int = 0
    out_of_scope_answered: int = 0
    hotline_questions: int = 0
    hotline_right: int = 0

    def share(self, count: int, total: int) -> float:
        return count / total if total else 0.0


def load_faq_eval(folder: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.yml")):
        with path.open(encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
        if not isinstance(data, dict) or not isinstance(data.get("faqs"), dict):
            raise ValueError(f"{path}: an FAQ evaluation file needs a faqs: mapping")
        out[str(data.get("locale") or path.stem)] = data
    return out


def evaluate_faqs(retriever: FaqRetriever, sets: dict[str, dict[str, Any]],
                  tuning: AssistantSettings, countries: tuple[str, ...],
                  locales: tuple[str, ...], split: Split | None,
                  everyday: dict[str, list[str]] | None = None) -> dict[str, FaqResult]:
    """``everyday``: more out-of-scope messages per locale (the safety evaluation's hard
    negatives other than questions about the lessons)."""
    def keep(text: str) -> bool:
        return split is None or split_of(text) == split

    results: dict[str, FaqResult] = {}
    for locale, data in sets.items():
        result = results[locale] = FaqResult(locale)
        for faq_id, texts in data["faqs"].items():
            for text in filter(keep, texts):
                ranking = retriever.rank(str(text))
                choice = choose(ranking, tuning.faq_answer_confidence,
                                tuning.faq_suggest_confidence)
                result.questions += 1
                result.top1 += retriever.best_faq(ranking) == faq_id
                result.answered_right += choice.answer == faq_id
                result.answered_wrong += choice.answer not in (None, faq_id)
                result.offered += choice.answer == faq_id or faq_id in choice.suggestions
        for text in filter(keep, [*(data.get("out_of_scope") or []),
                                  *(everyday or {}).get(locale, [])]):
            result.out_of_scope += 1
            choice = choose(retriever.rank(str(text)), tuning.faq_answer_confidence,
                            tuning.faq_suggest_confidence)
            result.out_of_scope_answered += choice.answer is not None
        for item in data.get("hotline_questions") or []:
            text = str(item["text"])
            if not keep(text):
                continue
            result.hotline_questions += 1
            result.hotline_right += asks_for_number(text) and \
                named_country(text, countries, locales) == item["country"]
    return results


def faq_markdown(results: dict[str, FaqResult], split: Split) -> list[str]:
    lines = [
        "| locale | questions | top-1 | answered and right | right FAQ offered | answered "
        "wrongly | out-of-scope messages | given an FAQ answer | questions for a number | "
        "right hotline card |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for locale, r in sorted(results.items()):
        lines.append(
            f"| {locale} | {r.questions} | {r.share(r.top1, r.questions):.3f} | "
            f"{r.share(r.answered_right, r.questions):.3f} | "
            f"{r.share(r.offered, r.questions):.3f} | "
            f"{r.share(r.answered_wrong, r.questions):.3f} | {r.out_of_scope} | "
            f"{r.share(r.out_of_scope_answered, r.out_of_scope):.1%} | {r.hotline_questions} | "
            f"{r.share(r.hotline_right, r.hotline_questions):.1%} |")
    lines += ["", f"Split: {split}."]
    return lines
