"""`safesteps validate`: check packs and say, in plain language, what to fix and where."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from bot.content import models
from bot.content.packs import KIND_FOLDERS, Pack, PackLocation, load_pack
from bot.content.problems import Problem, ProblemList, display_path
from bot.content.reading import load_model
from bot.content.rules import MIN_FAQ_EXAMPLES, RuleSettings, check_pack
from bot.content.translations import iter_texts, text_status
from bot.settings import Settings

STANDALONE_MODELS: dict[str, type[BaseModel]] = {
    "lesson": models.Lesson,
    "faq": models.FaqFile,
    "hotlines": models.CountryHotlines,
    "lexicon": models.Lexicon,
    "safety_examples": models.SafetyExamples,
    "quiz": models.Quiz,
}


@dataclass
class ValidationReport:
    problems: ProblemList
    packs: list[Pack] = field(default_factory=list)
    scope: list[Path] | None = None

    def _in_scope(self, problem: Problem) -> bool:
        if self.scope is None:
            return True
        where = Path(problem.path).resolve()
        return any(where == s or s in where.parents for s in self.scope)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems.errors if self._in_scope(p)]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems.warnings if self._in_scope(p)]

    def ok(self, strict: bool = False) -> bool:
        return not self.errors and not (strict and self.warnings)

    def as_json(self, strict: bool = False) -> dict[str, Any]:
        return {
            "ok": self.ok(strict),
            "errors": [p.as_json() for p in self.errors],
            "warnings": [p.as_json() for p in self.warnings],
            "summary": summarise(self.packs),
        }


def _complete_in(model: BaseModel, locale: str, source_locale: str) -> bool:
    return all(
        text_status(value, locale, source_locale).state != "missing"
        for _, value in iter_texts(model)
    )


def summarise(packs: list[Pack]) -> dict[str, Any]:
    """Counts by locale and audience, translation coverage, and hotline countries."""
    locales: dict[str, dict[str, Any]] = {}
    countries: set[str] = set()
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for pack in packs:
        meta = pack.meta.model if pack.meta else None
        if meta is None:
            continue
        for locale in meta.locales:
            entry = locales.setdefault(
                locale, {"lessons": {}, "quiz_questions": {}, "faqs": 0, "coverage": 0.0}
            )
            for file in pack.lessons:
                lesson = file.model
                if lesson is not None and _complete_in(lesson, locale, meta.source_locale):
                    entry["lessons"][lesson.audience] = entry["lessons"].get(lesson.audience, 0) + 1
            for quiz_file in pack.quizzes:
                quiz = quiz_file.model
                if quiz is None:
                    continue
                done = sum(
                    _complete_in(q, locale, meta.source_locale) for q in quiz.questions
                )
                questions = entry["quiz_questions"]
                questions[quiz.audience] = questions.get(quiz.audience, 0) + done
            for faq_file in pack.faqs:
                if faq_file.model is None:
                    continue
                entry["faqs"] += sum(
                    _complete_in(faq, locale, meta.source_locale)
                    and len(faq.examples.get(locale, [])) >= MIN_FAQ_EXAMPLES
                    for faq in faq_file.model.faqs
                )
            for any_file in pack.all_files():
                if any_file.model is None or isinstance(any_file.model, models.UNTRANSLATED_MODELS):
                    continue
                for _, value in iter_texts(any_file.model):
                    state = text_status(value, locale, meta.source_locale).state
                    totals[locale][1] += 1
                    totals[locale][0] += state in ("source", "fresh")
        for hotline_file in pack.hotlines:
            if hotline_file.model is not None:
                countries.add(hotline_file.model.country)
    for locale, (good, total) in totals.items():
        locales[locale]["coverage"] = round(good / total, 4) if total else 0.0
    for entry in locales.values():
        entry["lessons"] = dict(sorted(entry["lessons"].items()))
        entry["quiz_questions"] = dict(sorted(entry["quiz_questions"].items()))
    return {"locales": locales, "hotline_countries": sorted(countries)}


def _pack_for(path: Path, configured: list[PackLocation]) -> PackLocation | None:
    for location in configured:
        if location.owns(path):
            return location
    for folder in [path, *path.parents] if path.is_dir() else list(path.parents):
        if (folder / "pack.yml").is_file():
            return PackLocation.for_folder(folder)
    return None


def _standalone_kind(path: Path) -> str | None:
    for parent in path.parents:
        if parent.name in KIND_FOLDERS:
            return KIND_FOLDERS[parent.name]
        if parent.name == "quizzes":
            return "quiz"
    return None


def validate(
    paths: list[Path] | None,
    settings: Settings,
    today: Any = None,
) -> ValidationReport:
    """Validate the given files and folders, or every configured pack when there are none."""
    problems = ProblemList()
    rules = RuleSettings(hotline_max_age_days=settings.hotline_max_age_days, today=today)
    configured = [PackLocation.for_folder(c, q) for c, q in settings.pack_locations()]
    if not paths:
        locations = configured
        scope = None
    else:
        locations = []
        scope = []
        for raw in paths:
            if not raw.exists():
                problems.add(display_path(raw), 1, 1, "there is no such file or folder")
                continue
            scope.append(raw.resolve())
            location = _pack_for(raw.resolve(), configured)
            if location is None:
                _validate_standalone(raw, problems)
            elif not any(location.content.resolve() == loc.content.resolve()
                         for loc in locations):
                locations.append(location)
        if not scope:
            scope = None
    packs: list[Pack] = []
    for location in locations:
        if not location.content.is_dir():
            problems.add(display_path(location.content), 1, 1,
                         "this pack folder does not exist: check packs: in config.yml")
            continue
        pack = load_pack(location, problems)
        check_pack(pack, problems, rules)
        packs.append(pack)
    if paths and scope is None and not problems.items:
        problems.add(".", 1, 1, "nothing to validate")
    return ValidationReport(problems=problems, packs=packs, scope=scope)


def _validate_standalone(path: Path, problems: ProblemList) -> None:
    """Files outside any pack: check what can be checked without the rest of the pack."""
    files = [path] if path.is_file() else sorted(
        p for p in path.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file()
    )
    for file in files:
        shown = display_path(file)
        kind = _standalone_kind(file)
        if kind is None:
            problems.add(
                shown, 1, 1,
                "this file is not part of a pack (no pack.yml above it), so SafeSteps cannot "
                "tell what it is: put it in a pack's lessons/, faqs/, hotlines/ or safety/ folder",
            )
            continue
        load_model(file, shown, STANDALONE_MODELS[kind], problems)
