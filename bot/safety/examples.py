"""What the danger detector learns from: every labelled message the packs and the kit hold.

Danger: the packs' safety examples (by situation), the lexicons' entries and danger examples
and the kit's ``danger`` intent. Not danger: the packs' everyday hard negatives, the lexicons'
safe examples, every other kit intent and every FAQ phrasing (people asking about a lesson are
not in danger).
Never the evaluation sets under tests/: figures are only honest on messages not learnt from.
"""

from __future__ import annotations

from bot.content.library import ContentLibrary
from bot.content.problems import ProblemList
from bot.safety.detector import Example
from bot.safety.lexicon import normalise


def detector_examples(library: ContentLibrary) -> list[Example]:
    """Every labelled message, once; a message labelled both ways counts as danger."""
    from bot.assistant.kit import load_kit_examples

    found: dict[str, Example] = {}

    def add(text: str, danger: bool, writer: str | None = None, hard: bool = False) -> None:
        key = normalise(text)
        if not key:
            return
        known = found.get(key)
        if known is not None and (known.danger or not danger):
            return
        found[key] = Example(text, danger, writer, hard)

    for files in library.safety_examples.values():
        for examples in files:
            for items in examples.danger.values():
                for item in items:
                    add(item.text, True, item.writer or "self")
            for items in examples.negatives.values():
                for item in items:
                    add(item.text, False, hard=True)
    for lexicon in library.lexicons.values():
        # Each entry on its own is danger too, so that the detector never talks a bare "save
        # me" down to a check-in (see SafetySettings.lexicon_floor).
        for text in [*lexicon.words, *lexicon.phrases, *lexicon.misspellings, *lexicon.emoji]:
            add(text, True)
        for text in lexicon.examples.danger:
            add(text, True)
        for text in lexicon.examples.safe:
            add(text, False)
    for kit in load_kit_examples(ProblemList()).values():
        for intent, texts in kit.intents.items():
            for text in texts:
                add(text, intent == "danger")
    for faq in library.faqs.values():
        for texts in faq.examples.values():
            for text in texts:
                add(text, False)
    return list(found.values())
