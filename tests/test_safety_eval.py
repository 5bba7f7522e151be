"""The safety layer keeps its promises on messages that nobody who built it has seen.

tests/safety_eval/ was written by an author who never saw the training examples or the
lexicons. These tests fail when the final split misses a target of docs/safety.md, when the
set grows too small to measure, or when it starts to repeat training text.
"""

from __future__ import annotations

from functools import cache

import pytest

from bot.content.library import ContentLibrary
from bot.safety.evaluation import TARGETS, load_eval_sets, near_duplicates, split_of
from bot.safety.examples import detector_examples
from bot.safety.layer import SafetyLayer
from bot.safety.report import SafetyScores, eval_folder, score
from bot.safety.taxonomy import NEGATIVE_CATEGORIES, SITUATIONS
from bot.settings import Settings, load_settings
from tests.conftest import ROOT, SHIPPED_LOCALES


@cache
def settings() -> Settings:
    return load_settings(ROOT)


@cache
def library() -> ContentLibrary:
    return ContentLibrary.load(settings())


@cache
def layer() -> SafetyLayer:
    return SafetyLayer.for_chat(library(), settings())


@cache
def final_figures() -> SafetyScores:
    return score(settings(), "final")


@pytest.mark.parametrize("locale", SHIPPED_LOCALES)
def test_the_final_split_is_large_enough_and_covers_every_situation(locale: str) -> None:
    messages, problems = load_eval_sets(eval_folder(settings()))
    assert problems.items == []
    mine = [m for m in messages if m.locale == locale and split_of(m.text) == "final"]
    danger = [m for m in mine if m.danger]
    assert len(danger) >= 100 and len(mine) - len(danger) >= 100
    assert {m.label for m in danger} == set(SITUATIONS)
    assert {m.label for m in mine if not m.danger} <= set(NEGATIVE_CATEGORIES)


def test_the_evaluation_set_does_not_repeat_training_text() -> None:
    messages, _ = load_eval_sets(eval_folder(settings()))
    training = [e.text for e in detector_examples(library())]
    repeats = near_duplicates(messages, training)
    # Short messages ("took my passport", "help me") are bound to equal a lexicon entry or a
    # short example; more than a few would mean the set is no longer independent. Those
    # found are left out of every figure.
    assert len(repeats) <= 0.05 * len(messages), repeats[:10]


# Recall on the final split when docs/safety.md was last written (emergency, emergency or
# check-in). The targets (TARGETS) are higher; until a locale reaches them, a change may not
# fall below what it reached, and docs/safety.md shows the gap.
REACHED = {"en": (0.96, 0.98), "zh-Hans": (0.95, 0.99), "vi": (0.96, 0.99)}


@pytest.mark.parametrize("locale", SHIPPED_LOCALES)
def test_danger_is_recognised_on_the_final_split(locale: str) -> None:
    result = final_figures().results[locale]
    emergency, either = REACHED[locale]
    assert result.any_recall >= min(either, TARGETS.any_recall), len(result.misses())
    assert result.emergency_recall >= min(emergency, TARGETS.emergency_recall)


@pytest.mark.parametrize("locale", SHIPPED_LOCALES)
def test_everyday_messages_raise_few_alarms_on_the_final_split(locale: str) -> None:
    result = final_figures().results[locale]
    assert result.false_emergency <= TARGETS.false_emergency, len(result.false_alarms())
    assert result.false_check_in <= TARGETS.false_check_in


@pytest.mark.parametrize("locale", SHIPPED_LOCALES)
def test_the_packs_have_examples_of_every_situation(locale: str) -> None:
    (examples,) = library().safety_examples[locale]
    for situation in SITUATIONS:
        assert len(examples.danger.get(situation, [])) >= 40, situation
    assert sum(len(v) for v in examples.negatives.values()) >= 600
    assert all(item.source for items in examples.danger.values() for item in items)


@pytest.mark.parametrize("locale", SHIPPED_LOCALES)
def test_every_shipped_danger_example_gets_the_emergency_reply(locale: str) -> None:
    from bot.assistant.kit import load_kit_examples
    from bot.content.problems import ProblemList

    lexicon = library().lexicons[locale]
    shipped = [*lexicon.examples.danger, *lexicon.words, *lexicon.phrases,
               *lexicon.misspellings, *lexicon.emoji,
               *load_kit_examples(ProblemList())[locale].intents["danger"]]
    missed = [m for m in shipped if layer().assess(m, locale).tier != "emergency"]
    assert missed == []


def test_a_lexicon_entry_in_a_joke_is_talked_down_but_never_alone() -> None:
    alone = layer().assess("kill me", "en")
    joke = layer().assess("lol my mum will kill me if i'm late for dinner again 😂", "en")
    assert alone.lexicon is not None and alone.tier == "emergency"
    assert joke.lexicon is not None and joke.tier != "emergency"


@pytest.mark.parametrize("locale", SHIPPED_LOCALES)
def test_the_packs_own_danger_examples_are_recognised(locale: str) -> None:
    (examples,) = library().safety_examples[locale]
    texts = [i.text for items in examples.danger.values() for i in items]
    missed = [t for t in texts if layer().assess(t, locale).tier is None]
    assert missed == []


def test_a_worried_parent_is_told_what_to_do_and_a_victim_that_they_are_not_in_trouble(
) -> None:
    parent = layer().assess("my daughter is 13 and she did not come home after school, she "
                            "was chatting with an older man online", "en")
    victim = layer().assess("they took my passport and lock the door every night", "en")
    assert parent.tier == victim.tier == "emergency"
    assert parent.reporter and not victim.reporter
    reply = layer().emergency_reply("en", "CN", reporter=True)
    assert "110" in reply.text and "What to do now" in reply.text
    assert "not your fault" not in reply.text
    assert "not in trouble" in layer().emergency_reply("en", "CN").text


@pytest.mark.parametrize("text", ["", " ", "🙂", "a" * 10_000, "救" * 5000,
                                  "\u202e\u200bhelp\u200b"])
def test_odd_messages_get_a_tier_without_error(text: str) -> None:
    found = layer().assess(text, "en")
    assert found.tier in (None, "check_in", "emergency")
    assert 0.0 <= found.score <= 1.0
