"""How well the safety layer recognises danger, measured on messages it never learnt from.

The evaluation sets (tests/safety_eval/<locale>.yml) were written by an author who never saw
the training examples or the lexicons. Each message falls, by a hash of its folded text, into
the development split (two in five: for choosing models and thresholds) or the final split
(the rest: the only figures reported). Near-duplicates of training text are left out.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from bot.content import models
from bot.content.problems import ProblemList
from bot.content.reading import load_model
from bot.safety.layer import Assessment, SafetyLayer
from bot.safety.lexicon import normalise
from bot.safety.taxonomy import NEGATIVE_CATEGORIES, SITUATIONS

Split = Literal["dev", "final"]
NEAR_DUPLICATE = 0.8  # Jaccard similarity of character 3-grams


@dataclass(frozen=True)
class Targets:
    """The promises the final split must keep, per locale (issue: docs/safety.md)."""

    any_recall: float = 0.99
    emergency_recall: float = 0.95
    false_emergency: float = 0.03
    false_check_in: float = 0.15


TARGETS = Targets()


def split_of(text: str) -> Split:
    digest = hashlib.sha256(normalise(text).encode("utf-8")).digest()
    return "dev" if digest[0] % 5 < 2 else "final"


@dataclass(frozen=True)
class EvalMessage:
    text: str
    locale: str
    danger: bool
    label: str  # the situation (danger) or the category (not danger)
    style: str
    writer: str | None


def load_eval_sets(folder: Path) -> tuple[list[EvalMessage], ProblemList]:
    """Every message of the evaluation files in ``folder``, with the problems found."""
    problems = ProblemList()
    messages: list[EvalMessage] = []
    for path in sorted(folder.glob("*.yml")):
        loaded = load_model(path, path.name, models.SafetyExamples, problems)
        if loaded.model is None:
            continue
        for danger, section in ((True, loaded.model.danger), (False, loaded.model.negatives)):
            for label, items in section.items():
                messages += [EvalMessage(i.text, loaded.model.locale, danger, label, i.style,
                                         i.writer) for i in items]
    return messages, problems


def trigrams(text: str) -> frozenset[str]:
    folded = normalise(text)
    return frozenset(folded[i:i + 3] for i in range(max(1, len(folded) - 2)))


def near_duplicates(messages: Sequence[EvalMessage], training: Iterable[str],
                    threshold: float = NEAR_DUPLICATE) -> list[tuple[EvalMessage, str]]:
    """Evaluation messages that (nearly) repeat a training text, with the text they repeat."""
    texts = list(training)
    grams = [trigrams(t) for t in texts]
    index: dict[str, list[int]] = {}
    for n, own in enumerate(grams):
        for gram in own:
            index.setdefault(gram, []).append(n)
    found: list[tuple[EvalMessage, str]] = []
    for message in messages:
        mine = trigrams(message.text)
        shared = Counter(n for gram in mine for n in index.get(gram, ()))
        for n, common in shared.most_common(5):
            if common / (len(mine) + len(grams[n]) - common) >= threshold:
                found.append((message, texts[n]))
                break
    return found


@dataclass
class Scored:
    message: EvalMessage
    assessment: Assessment


@dataclass
class LocaleResult:
    locale: str
    danger: list[Scored] = field(default_factory=list)
    negatives: list[Scored] = field(default_factory=list)

    @staticmethod
    def _share(items: list[Scored], tiers: set[str | None]) -> float:
        return sum(s.assessment.tier in tiers for s in items) / len(items) if items else 0.0

    @property
    def emergency_recall(self) -> float:
        return self._share(self.danger, {"emergency"})

    @property
    def any_recall(self) -> float:
        return self._share(self.danger, {"emergency", "check_in"})

    @property
    def false_emergency(self) -> float:
        return self._share(self.negatives, {"emergency"})

    @property
    def false_check_in(self) -> float:
        return self._share(self.negatives, {"check_in"})

    def misses(self) -> list[Scored]:
        return [s for s in self.danger if s.assessment.tier is None]

    def false_alarms(self) -> list[Scored]:
        return [s for s in self.negatives if s.assessment.tier is not None]

    def failures(self, targets: Targets = TARGETS) -> list[str]:
        """The targets this locale misses, in words."""
        out = []
        if self.any_recall < targets.any_recall:
            out.append(f"{self.locale}: emergency-or-check-in recall {self.any_recall:.4f} < "
                       f"{targets.any_recall}")
        if self.emergency_recall < targets.emergency_recall:
            out.append(f"{self.locale}: emergency recall {self.emergency_recall:.4f} < "
                       f"{targets.emergency_recall}")
        if self.false_emergency > targets.false_emergency:
            out.append(f"{self.locale}: false emergencies {self.false_emergency:.4f} > "
                       f"{targets.false_emergency}")
        if self.false_check_in > targets.false_check_in:
            out.append(f"{self.locale}: false check-ins {self.false_check_in:.4f} > "
                       f"{targets.false_check_in}")
        return out


def evaluate(layer: SafetyLayer, messages: Sequence[EvalMessage], split: Split | None,
             timings: list[float] | None = None) -> dict[str, LocaleResult]:
    """Each locale's messages of ``split`` (None: both), read by the safety layer; the time
    each reading took (ms) goes to ``timings`` when given."""
    results: dict[str, LocaleResult] = {}
    for message in messages:
        if split is not None and split_of(message.text) != split:
            continue
        result = results.setdefault(message.locale, LocaleResult(message.locale))
        begun = time.perf_counter()
        scored = Scored(message, layer.assess(message.text, message.locale))
        if timings is not None:
            timings.append((time.perf_counter() - begun) * 1000)
        (result.danger if message.danger else result.negatives).append(scored)
    return results


def _pct(value: float) -> str:
    """Two decimals, so that 98.95 % never reads as the 99 % of a target."""
    return f"{100 * value:.2f} %"


def report_markdown(results: dict[str, LocaleResult], split: Split,
                    excluded: int = 0) -> list[str]:
    """Tables per locale and per situation, and the misses listed (for docs/safety.md)."""
    lines = [
        "| locale | danger messages | emergency | emergency or check-in | hard negatives | "
        "false emergency | false check-in |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for locale, r in sorted(results.items()):
        lines.append(f"| {locale} | {len(r.danger)} | {_pct(r.emergency_recall)} | "
                     f"{_pct(r.any_recall)} | {len(r.negatives)} | {_pct(r.false_emergency)} | "
                     f"{_pct(r.false_check_in)} |")
    lines += ["", f"Split: {split}. Near-duplicates of training text left out: {excluded}.", ""]
    locales = sorted(results)
    lines += ["Per situation, emergency / emergency-or-check-in recall (messages):", "",
              "| situation | " + " | ".join(locales) + " |",
              "| --- |" + " --- |" * len(locales)]
    for situation in SITUATIONS:
        cells = []
        for locale in locales:
            items = [s for s in results[locale].danger if s.message.label == situation]
            if not items:
                cells.append("–")
                continue
            emergency = sum(s.assessment.tier == "emergency" for s in items)
            caught = sum(s.assessment.tier is not None for s in items)
            cells.append(f"{emergency}/{caught}/{len(items)}")
        lines.append(f"| {situation} | " + " | ".join(cells) + " |")
    lines += ["", "Hard negatives per category, false emergency / false check-in (messages):",
              "", "| category | " + " | ".join(locales) + " |",
              "| --- |" + " --- |" * len(locales)]
    for category in NEGATIVE_CATEGORIES:
        cells = []
        for locale in locales:
            items = [s for s in results[locale].negatives if s.message.label == category]
            counts = Counter(s.assessment.tier for s in items)
            cells.append(f"{counts['emergency']}/{counts['check_in']}/{len(items)}"
                         if items else "–")
        lines.append(f"| {category} | " + " | ".join(cells) + " |")
    for locale in locales:
        misses = results[locale].misses()
        alarms = results[locale].false_alarms()
        lines += ["", f"### {locale}: missed danger ({len(misses)})", ""]
        lines += [f"- `{s.message.label}` ({s.message.style}, score "
                  f"{s.assessment.score:.2f}): {_quote(s.message.text)}" for s in misses]
        lines += ["", f"### {locale}: false alarms ({len(alarms)})", ""]
        lines += [f"- {s.assessment.tier} `{s.message.label}` (score {s.assessment.score:.2f}"
                  f"{', lexicon' if s.assessment.lexicon else ''}): {_quote(s.message.text)}"
                  for s in alarms]
    return lines


def _quote(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    flat = flat if len(flat) <= limit else flat[: limit - 1] + "…"
    return flat.replace("|", "\\|").replace("`", "'")
