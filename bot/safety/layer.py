"""The safety layer: every inbound text meets it first, in every state, with or without Rasa.

It matches the lexicons of every shipped locale (people write in the language they think in)
and answers danger from the packs held in memory: the local emergency number first, the right
hotlines, "you are not in trouble", "are you safe to talk?".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from babel.core import get_global

from bot.content.library import ContentLibrary
from bot.render import RenderedMessage, Renderer
from bot.safety.lexicon import DangerMatcher, Match


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


@dataclass
class SafetyLayer:
    library: ContentLibrary
    _matchers: dict[str, DangerMatcher] = field(default_factory=dict)
    _renderers: dict[str, Renderer] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for locale, lexicon in self.library.lexicons.items():
            self._matchers[locale] = DangerMatcher.from_lexicon(
                lexicon.words, lexicon.phrases, lexicon.misspellings, lexicon.emoji)

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

    def emergency_reply(self, locale: str, country: str | None) -> RenderedMessage:
        """The danger reply for someone reading ``locale`` and standing in ``country``."""
        here = self.library.hotlines_for(country) if country else None
        if here is None:
            here = self.library.hotlines_for(self.library.default_country) if not country \
                else None
        home_code = home_country(locale)
        home = self.library.hotlines_for(home_code) if home_code else None
        return self.renderer(locale).emergency(here, home)
