"""The content the running assistant serves: packs read once, looked up by id, audience or
country. Files with errors are left out (the validator reports them); the rest is served."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from bot.content import models
from bot.content.packs import Pack
from bot.content.validate import validate
from bot.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class ContentLibrary:
    packs: list[Pack]
    default_locale: str = "en"
    default_country: str = "CN"
    problems: int = 0
    lessons: dict[str, models.Lesson] = field(default_factory=dict)
    quizzes: dict[str, models.Quiz] = field(default_factory=dict)
    faqs: dict[str, models.Faq] = field(default_factory=dict)
    hotlines: dict[str, models.CountryHotlines] = field(default_factory=dict)
    lexicons: dict[str, models.Lexicon] = field(default_factory=dict)
    safety_examples: dict[str, list[models.SafetyExamples]] = field(default_factory=dict)
    locales: list[str] = field(default_factory=list)
    source_locale: str = "en"

    @classmethod
    def load(cls, settings: Settings) -> ContentLibrary:
        report = validate(None, settings)
        if report.errors:
            log.warning("content packs have %d error(s); the files with errors are not served "
                        "(run: safesteps validate)", len(report.errors))
        library = cls(report.packs, settings.default_locale, settings.default_country,
                      len(report.errors))
        library._index()
        return library

    def _index(self) -> None:
        for pack in self.packs:
            meta = pack.meta.model if pack.meta else None
            if meta is not None:
                self.source_locale = meta.source_locale
                self.locales += [loc for loc in meta.locales if loc not in self.locales]
            for lesson_file in pack.lessons:
                if lesson_file.model is not None:
                    self.lessons.setdefault(lesson_file.model.id, lesson_file.model)
            for quiz_file in pack.quizzes:
                if quiz_file.model is not None:
                    self.quizzes.setdefault(quiz_file.model.id, quiz_file.model)
            for faq_file in pack.faqs:
                for faq in faq_file.model.faqs if faq_file.model else []:
                    self.faqs.setdefault(faq.id, faq)
            for hotline_file in pack.hotlines:
                if hotline_file.model is not None:
                    self.hotlines.setdefault(hotline_file.model.country, hotline_file.model)
            for lexicon_file in pack.lexicons:
                if lexicon_file.model is not None:
                    self.lexicons.setdefault(lexicon_file.model.locale, lexicon_file.model)
            for examples_file in pack.safety_examples:
                if examples_file.model is not None:
                    self.safety_examples.setdefault(examples_file.model.locale, []).append(
                        examples_file.model)
        if self.default_locale not in self.locales and self.locales:
            self.default_locale = self.locales[0]

    def pick_locale(self, requested: str | None) -> str:
        """The pack locale closest to ``requested`` (zh, zh-CN, zh-hans → zh-Hans)."""
        if not requested:
            return self.default_locale
        wanted = requested.replace("_", "-").lower()
        by_lower = {loc.lower(): loc for loc in self.locales}
        if wanted in by_lower:
            return by_lower[wanted]
        aliases = {"zh": "zh-hans", "zh-cn": "zh-hans", "zh-sg": "zh-hans", "zh-hans-cn": "zh-hans"}
        if aliases.get(wanted) in by_lower:
            return by_lower[aliases[wanted]]
        base = wanted.split("-")[0]
        for lower, loc in by_lower.items():
            if lower.split("-")[0] == base:
                return loc
        return self.default_locale

    def lessons_for(self, audience: str | None) -> list[models.Lesson]:
        return [lesson for lesson in self.lessons.values()
                if audience is None or lesson.audience == audience]

    def quizzes_for(self, audience: str | None) -> list[models.Quiz]:
        return [quiz for quiz in self.quizzes.values()
                if audience is None or quiz.audience == audience]

    def quiz_for_lesson(self, lesson_id: str) -> models.Quiz | None:
        return next((q for q in self.quizzes.values() if lesson_id in q.lessons), None)

    def hotlines_for(self, country: str | None) -> models.CountryHotlines | None:
        if country and country.upper() in self.hotlines:
            return self.hotlines[country.upper()]
        return None
