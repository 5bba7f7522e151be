"""Cross-validate a scikit-learn copy of the NLU pipeline in seconds instead of minutes.

`safesteps eval` trains the real Rasa pipeline (about 15 minutes on two cores). This script
copies what that pipeline does with the same examples and the same hold-out split, and scores
candidate changes by 5-fold cross-validation on the training side only (the held-out fifth is
never looked at unless --held-out is given, which is for checking that the copy is faithful).

Run it with Rasa's environment, which has scikit-learn and jieba:

    .venv-rasa/bin/python scripts/nlu_crossval.py [--tokenizer mixed|jieba] [--held-out]

The copy: each featurizer sees the tokenizer's tokens joined by spaces, lowercased, with whole
numbers replaced by __NUMBER__ (as Rasa's CountVectorsFeaturizer does); the sentence features
of the three featurizers are stacked; LogisticRegression with balanced class weights (as
Rasa's LogisticRegressionClassifier). FAQ phrasings all count as the one intent "faq".
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

import jieba
import numpy as np
import yaml
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold

ROOT = Path(__file__).resolve().parent.parent
HOLD_OUT_EVERY = 5  # as bot/assistant/evaluation.py
LOCALES = ("en", "zh-Hans", "vi")
WORD_PATTERN = r"(?u)\b\w+\b"

Example = tuple[str, str, str]  # locale, intent, text


def load_examples() -> tuple[list[Example], list[Example], list[str]]:
    """The training and held-out examples, split as `safesteps eval` splits them."""
    per_locale: dict[str, dict[str, list[str]]] = {loc: {} for loc in LOCALES}
    kit_intents: list[str] = []
    for path in sorted((ROOT / "bot" / "assistant" / "nlu").glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        per_locale[data["locale"]].update(data["intents"])
        kit_intents = list(data["intents"])
    for path in sorted((ROOT / "content").glob("*/faqs/*.yml")):
        for faq in yaml.safe_load(path.read_text(encoding="utf-8"))["faqs"]:
            for locale, lines in faq.get("examples", {}).items():
                per_locale[locale][f"faq/{faq['id']}"] = lines
    train: list[Example] = []
    test: list[Example] = []
    for locale, intents in per_locale.items():
        for intent, lines in intents.items():
            label = "faq" if intent.startswith("faq/") else intent
            for n, line in enumerate(lines):
                side = test if n % HOLD_OUT_EVERY == HOLD_OUT_EVERY - 1 else train
                side.append((locale, label, str(line)))
    return train, test, kit_intents


def jieba_tokens(text: str) -> list[str]:
    """Rasa's JiebaTokenizer: jieba's pieces, whitespace included."""
    return [word for word, _, _ in jieba.tokenize(text)]


def load_component(name: str) -> ModuleType:
    """A module from bot/assistant, loaded without importing `bot` (it needs pydantic 2)."""
    path = ROOT / "bot" / "assistant" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tokenizer_named(name: str) -> Callable[[str], list[str]]:
    if name == "jieba":
        return jieba_tokens
    split = load_component("rasa_components").split_words
    return lambda text: [word for word, _ in split(text)]


def prepare(text: str, tokenize: Callable[[str], list[str]]) -> str:
    tokens = [re.sub(r"\b[0-9]+\b", "__NUMBER__", t).lower() for t in tokenize(text)]
    return " ".join(tokens)


def featurizers(args: argparse.Namespace) -> list[CountVectorizer]:
    """The pipeline's CountVectorsFeaturizers: words, characters, and words without accents."""
    words = (1, args.word_max)
    chars = (args.char_min, args.char_max)
    chosen = [CountVectorizer(token_pattern=WORD_PATTERN, ngram_range=words),
              CountVectorizer(analyzer=args.char_analyzer, ngram_range=chars)]
    if args.plain_words:
        chosen.append(CountVectorizer(token_pattern=WORD_PATTERN, ngram_range=words,
                                      strip_accents="unicode"))
    if args.plain_chars:
        chosen.append(CountVectorizer(analyzer=args.char_analyzer, ngram_range=chars,
                                      strip_accents="unicode"))
    return chosen


def fit_predict(train_texts: list[str], train_labels: list[str], test_texts: list[str],
                args: argparse.Namespace) -> np.ndarray[Any, Any]:
    vectorizers = featurizers(args)
    x_train = hstack([v.fit_transform(train_texts) for v in vectorizers]).tocsr()
    x_test = hstack([v.transform(test_texts) for v in vectorizers]).tocsr()
    if args.binary:
        x_train = csr_matrix((x_train > 0).astype(float))
        x_test = csr_matrix((x_test > 0).astype(float))
    model = LogisticRegression(C=args.c, max_iter=args.max_iter, class_weight="balanced",
                               solver="lbfgs", random_state=42)
    model.fit(x_train, train_labels)
    predicted: np.ndarray[Any, Any] = model.predict(x_test)
    return predicted


def kit_macro_f1(truth: Iterable[str], predicted: Iterable[str], kit: list[str]) -> float:
    """The mean F1 of the kit's intents, as `safesteps eval` reports it."""
    truth, predicted = list(truth), list(predicted)
    present = [i for i in kit if i in truth or i in predicted]
    scores = f1_score(truth, predicted, labels=present, average=None, zero_division=0)
    return float(np.mean(scores))


def score(examples: list[Example], predicted: list[str], kit: list[str]) -> dict[str, float]:
    out = {}
    for locale in LOCALES:
        rows = [(e[1], p) for e, p in zip(examples, predicted, strict=True) if e[0] == locale]
        out[locale] = kit_macro_f1([t for t, _ in rows], [p for _, p in rows], kit)
    return out


def cross_validate(train: list[Example], kit: list[str], args: argparse.Namespace
                   ) -> tuple[dict[str, float], list[tuple[Example, str]]]:
    tokenize = tokenizer_named(args.tokenizer)
    texts = [prepare(e[2], tokenize) for e in train]
    strata = [f"{e[0]}:{e[1]}" for e in train]
    predicted = [""] * len(train)
    folds = StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=0)
    for fit_rows, test_rows in folds.split(texts, strata):
        guesses = fit_predict([texts[i] for i in fit_rows], [train[i][1] for i in fit_rows],
                              [texts[i] for i in test_rows], args)
        for i, guess in zip(test_rows, guesses, strict=True):
            predicted[i] = str(guess)
    errors = [(e, p) for e, p in zip(train, predicted, strict=True) if e[1] != p]
    return score(train, predicted, kit), errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokenizer", choices=("mixed", "jieba"), default="mixed",
                        help="MixedScriptTokenizer (the default) or Rasa's JiebaTokenizer")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--c", type=float, default=1.0, help="inverse regularisation")
    parser.add_argument("--max-iter", type=int, default=300)
    parser.add_argument("--word-max", type=int, default=2, help="longest word n-gram")
    parser.add_argument("--char-min", type=int, default=1, help="shortest character n-gram")
    parser.add_argument("--char-max", type=int, default=5, help="longest character n-gram")
    parser.add_argument("--char-analyzer", choices=("char_wb", "char"), default="char_wb")
    parser.add_argument("--no-plain-words", dest="plain_words", action="store_false",
                        help="leave out the accent-stripped word featurizer")
    parser.add_argument("--plain-chars", action="store_true",
                        help="add character n-grams with accents and tone marks removed")
    parser.add_argument("--binary", action="store_true", help="presence instead of counts")
    parser.add_argument("--errors", metavar="LOCALE", help="print this locale's CV errors")
    parser.add_argument("--held-out", action="store_true",
                        help="also train on the whole training side and score the held-out "
                             "fifth (to check the copy against safesteps eval)")
    args = parser.parse_args()
    jieba.setLogLevel(60)
    train, test, kit = load_examples()
    cv, errors = cross_validate(train, kit, args)
    print(f"{len(train)} training examples, {args.folds}-fold cross-validation")
    print("kit macro F1 (CV):       " + "  ".join(f"{k} {v:.3f}" for k, v in cv.items()))
    if args.errors:
        for (_, truth, text), guess in sorted(e for e in errors if e[0][0] == args.errors):
            print(f"  {truth} -> {guess}: {text}")
    if args.held_out:
        tokenize = tokenizer_named(args.tokenizer)
        guesses = fit_predict([prepare(e[2], tokenize) for e in train], [e[1] for e in train],
                              [prepare(e[2], tokenize) for e in test], args)
        held = score(test, [str(g) for g in guesses], kit)
        print("kit macro F1 (held out): " + "  ".join(f"{k} {v:.3f}" for k, v in held.items()))


if __name__ == "__main__":
    sys.exit(main())
