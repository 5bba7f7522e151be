"""The safety matcher catches danger however it is typed, and stays quiet on lessons."""

from __future__ import annotations

from functools import cache

import pytest

from bot.content import models
from bot.content.validate import validate
from bot.safety.lexicon import DangerMatcher, normalise
from bot.settings import load_settings
from tests.conftest import ROOT, SHIPPED_LOCALES


@cache
def lexicons() -> dict[str, models.Lexicon]:
    (pack,) = validate(None, load_settings(ROOT)).packs
    return {f.model.locale: f.model for f in pack.lexicons if f.model}


def matcher_for(lexicon: models.Lexicon) -> DangerMatcher:
    return DangerMatcher.from_lexicon(
        lexicon.words, lexicon.phrases, lexicon.misspellings, lexicon.emoji)


def test_normalise_folds_case_accents_tones_spaces_and_invisible_characters() -> None:
    assert normalise("  CỨU   TÔI\u200b với!!!  ") == "cuu toi voi!"
    assert normalise("Đừng") == "dung"
    assert normalise("I’m SCARED") == "im scared"
    assert normalise("ＨＥＬＰ") == "help"


def test_words_match_whole_words_and_phrases_respect_word_edges() -> None:
    matcher = DangerMatcher.from_lexicon(["sold"], ["trafficking me"], [], ["🆘"])
    assert matcher.find("they SOLD me") is not None
    assert matcher.find("the soldier is nice") is None
    assert matcher.find("what does trafficking mean") is None
    assert matcher.find("stop trafficking me") is not None
    assert matcher.find("🆘🆘") is not None


def test_chinese_entries_match_anywhere() -> None:
    matcher = DangerMatcher.from_lexicon(["救命"], ["不让我走"], [], [])
    assert matcher.find("救命啊") is not None
    assert matcher.find("他们不让我走了") is not None


@pytest.mark.parametrize("locale", SHIPPED_LOCALES)
def test_every_entry_catches_itself(locale: str) -> None:
    lexicon = lexicons()[locale]
    matcher = matcher_for(lexicon)
    for entry in [*lexicon.words, *lexicon.phrases, *lexicon.misspellings, *lexicon.emoji]:
        assert matcher.find(entry) is not None, entry


@pytest.mark.parametrize("locale", SHIPPED_LOCALES)
def test_danger_examples_all_match_and_safe_examples_do_not(locale: str) -> None:
    lexicon = lexicons()[locale]
    matcher = matcher_for(lexicon)
    missed = [m for m in lexicon.examples.danger if matcher.find(m) is None]
    false_alarms = [m for m in lexicon.examples.safe if matcher.find(m) is not None]
    assert missed == [] and false_alarms == []


def test_vietnamese_typed_without_tone_marks_still_matches() -> None:
    matcher = matcher_for(lexicons()["vi"])
    for message in ("cuu toi voi", "CỨU TÔI VỚI", "cứu   tôi"):
        assert matcher.find(message) is not None, message
