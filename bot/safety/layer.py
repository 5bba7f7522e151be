"""The safety layer: every inbound text meets it first, in every state, with or without Rasa.

Two readers: the lexicons of every shipped locale (people write in the language they think in)
catch what is said outright, and the danger detector (bot/safety/detector.py) what is told as
a story, implied or misspelled. Their reading is a tier: emergency (the danger reply from the
packs held in memory: the local emergency number first, the right hotlines, then "you are not
in trouble" or, to someone reporting another person, what to do now), check-in (the normal
answer with one calm line and the number) or none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from babel.core import get_global

from bot.content import models
from bot.content.library import ContentLibrary
from bot.render import RenderedMessage, Renderer
from bot.safety.detector import DangerDetector, load_or_train
from bot.safety.examples import detector_examples
from bot.safety.lexicon import DangerMatcher, Match, normalise
from bot.settings import SafetySettings, Settings

Tier = Literal["emergency", "check_in"]
_WORDS = re.compile(r"[\W_]+")


def home_country(locale: str) -> str | None:
    """The country a language is most likely from (vi → VN, zh-Hans → CN); None for en."""
    if locale.split("-")[0] == "en":
        return None  # English is spoken everywhere: no single home country
    likely = get_global("likely_subtags").get(locale.replace("-", "_")) or \
        get_global("likely_subtags").get(locale.split("-")[0])
    if not likely:
        return None
    parts = likely.split("_")
    return parts[-1] if len(parts[-1]) == 2 and parts[-1].isupper() else None


@dataclass(frozen=True)
class Assessment:
    """What the safety layer made of one message."""

    tier: Tier | None
    """emergency: the danger reply at once; check_in: the normal answer and a calm line with
    the emergency number; None: the normal answer."""
    score: float = 0.0
    """The detector's reading, 0..1 (1.0 for a lexicon match without a detector)."""
    lexicon: Match | None = None
    """The lexicon entry the message matched, if any."""
    reporter: bool = False
    """The writer reports someone else (a parent, a teacher, a neighbour)."""


NO_DANGER = Assessment(None)


def bare_entry(text: str, hit: Match) -> bool:
    """True when ``text`` says nothing but the lexicon entry ``hit`` (and punctuation)."""
    return _WORDS.sub("", normalise(text).replace(hit.term, "", 1)) == ""


@dataclass
class SafetyLayer:
    library: ContentLibrary
    detector: DangerDetector | None = None
    tiers: SafetySettings = field(default_factory=SafetySettings)
    _matchers: dict[str, DangerMatcher] = field(default_factory=dict)
    _renderers: dict[str, Renderer] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for locale, lexicon in self.library.lexicons.items():
            self._matchers[locale] = DangerMatcher.from_lexicon(
                lexicon.words, lexicon.phrases, lexicon.misspellings, lexicon.emoji)

    @classmethod
    def for_chat(cls, library: ContentLibrary, settings: Settings) -> SafetyLayer:
        """The layer the chat API uses: lexicons and the detector, trained if need be."""
        folder = settings.resolve(settings.build_dir) / "safety"
        detector = load_or_train(detector_examples(library), folder)
        detector.score("warm up 热身")  # pypinyin reads its dictionary on first use
        return cls(library, detector, settings.safety)

    def assess(self, text: str, locale: str | None = None) -> Assessment:
        """The tier of the safety reply for ``text``: the lexicons first (what is said
        outright), then the detector (what is told, implied or misspelled)."""
        hit = self.check(text, locale)
        if self.detector is None:
            return Assessment("emergency", 1.0, hit) if hit is not None else NO_DANGER
        score = self.detector.score(text)
        tiers = self.tiers
        if hit is not None:
            # Talked down only by what else the message says ("kill me now 😂"): a bare
            # lexicon entry is always an emergency.
            tier: Tier | None = "emergency" if bare_entry(text, hit) or \
                score >= tiers.lexicon_floor else "check_in"
        elif score >= tiers.emergency_score:
            tier = "emergency"
        elif score >= tiers.check_in_score:
            tier = "check_in"
        else:
            return Assessment(None, score)
        reporter = tier == "emergency" and \
            self.detector.reporter_probability(text) >= tiers.reporter_probability
        return Assessment(tier, score, hit, reporter)

    def check(self, text: str, locale: str | None = None) -> Match | None:
        """The first danger entry in ``text``: the user's locale first, then every other."""
        order = sorted(self._matchers, key=lambda loc: loc != locale)
        for loc in order:
            hit = self._matchers[loc].find(text)
            if hit is not None:
                return hit
        return None

    def renderer(self, locale: str) -> Renderer:
        if locale not in self._renderers:
            self._renderers[locale] = Renderer(locale, self.library.source_locale)
        return self._renderers[locale]

    def emergency_reply(self, locale: str, country: str | None, *,
                        reporter: bool = False) -> RenderedMessage:
        """The danger reply for someone reading ``locale`` and standing in ``country``: to a
        person in danger, or (``reporter``) to someone worried about another person."""
        home_code = home_country(locale)
        home = self.library.hotlines_for(home_code) if home_code else None
        return self.renderer(locale).emergency(self._here(country), home, reporter=reporter)

    def check_in_note(self, locale: str, country: str | None) -> RenderedMessage:
        """One calm line with the local emergency number and a Get-help button."""
        return self.renderer(locale).check_in(self._here(country))

    def _here(self, country: str | None) -> models.CountryHotlines | None:
        if country:
            return self.library.hotlines_for(country)
        return self.library.hotlines_for(self.library.default_country)
