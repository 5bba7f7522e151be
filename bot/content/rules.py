"""Rules about content that span fields and files, in one place.

Telegram's limits, translation completeness, links between files, hotline provenance and
lexicon self-checks are all decided here, so that the validator, the preview and the chat agree.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from babel import Locale, UnknownLocaleError

from bot.content import models
from bot.content.packs import Pack
from bot.content.problems import ProblemList
from bot.content.reading import LoadedFile, PathKey, field_label
from bot.content.translations import iter_texts, text_status
from bot.safety.lexicon import DangerMatcher
from bot.safety.taxonomy import NEGATIVE_CATEGORIES, SITUATIONS

# Telegram quiz-poll limits (sendPoll): question 1-300, options 2-10 of 1-100 characters,
# explanation 0-200 characters with at most 2 line feeds.
POLL_QUESTION_MAX = 300
POLL_OPTION_MAX = 100
POLL_EXPLANATION_MAX = 200
POLL_EXPLANATION_LINE_FEEDS = 2
MESSAGE_MAX = 4096
CALLBACK_DATA_MAX_BYTES = 64

MIN_FAQ_EXAMPLES = 8
MIN_LEXICON_ENTRIES = 40
ALWAYS_OPEN = re.compile(
    r"24\s*/\s*7|24\s*hours|24\s*h\b|round[- ]the[- ]clock|24\s*giờ|24/24|24\s*小时|全天|全年无休",
    re.IGNORECASE,
)
PHONE = re.compile(r"^\+?[0-9][0-9 \-]{1,19}$")
REGION = re.compile(r"^[A-Z]{2}-[A-Z0-9]{1,3}$")


@dataclass(frozen=True)
class RuleSettings:
    """What the rules need from the kit's settings."""

    hotline_max_age_days: int = 180
    today: dt.date | None = None

    def current_date(self) -> dt.date:
        return self.today or dt.date.today()


def known_locale(tag: str) -> bool:
    """True for BCP 47 tags Babel knows, such as en, zh-Hans or vi."""
    try:
        Locale.parse(tag, sep="-")
    except (UnknownLocaleError, ValueError):
        return False
    return True


def known_language(tag: str) -> bool:
    """A language a hotline may serve: any BCP 47 tag Babel can name (hmn, lo, my ...)."""
    return known_locale(tag) or tag in Locale("en").languages


def _add(problems: ProblemList, file: LoadedFile[Any], path: PathKey, message: str,
         severity: str = "error") -> None:
    mark = file.mark(path)
    problems.add(file.shown, mark.line, mark.column, message, severity)  # type: ignore[arg-type]


def check_pack(pack: Pack, problems: ProblemList, settings: RuleSettings) -> None:
    """Apply every cross-file rule to a pack that was read."""
    meta_file = pack.meta
    meta = meta_file.model if meta_file else None
    if meta_file is None or meta is None:
        return
    check_meta(meta_file, meta, problems, settings)
    locales = [loc for loc in meta.locales if known_locale(loc)]
    topics = {t.id for t in meta.topics}
    check_translations(pack, meta, problems)
    lesson_ids = check_lessons(pack, meta, topics, problems)
    check_quizzes(pack, meta, lesson_ids, problems)
    check_faqs(pack, meta, topics, locales, problems)
    check_hotlines(pack, problems, settings)
    check_lexicons(pack, locales, problems)
    check_safety_examples(pack, locales, problems)


def check_meta(file: LoadedFile[Any], meta: models.PackMeta, problems: ProblemList,
               settings: RuleSettings) -> None:
    for n, loc in enumerate(meta.locales):
        if not known_locale(loc):
            _add(problems, file, ("locales", n),
                 f'"{loc}" is not a language code SafeSteps knows: use a BCP 47 tag such as '
                 "en, zh-Hans or vi")
    if len(set(meta.locales)) != len(meta.locales):
        _add(problems, file, ("locales",), "a language is listed twice in locales")
    for key in ("source_locale", "default_locale"):
        value = getattr(meta, key)
        if value not in meta.locales:
            _add(problems, file, (key,),
                 f'"{key}" is {value}, which is not one of the pack\'s locales '
                 f"({', '.join(meta.locales)})")
    if meta.review_by < settings.current_date():
        _add(problems, file, ("review_by",),
             f"this pack was due for review on {meta.review_by.isoformat()}: check the lessons "
             "and hotlines, then set a new review_by date", "warning")
    seen: set[str] = set()
    for n, topic in enumerate(meta.topics):
        if topic.id in seen:
            _add(problems, file, ("topics", n, "id"), f'the topic id "{topic.id}" is used twice')
        seen.add(topic.id)


def check_translations(pack: Pack, meta: models.PackMeta, problems: ProblemList) -> None:
    """Every text in every locale; translations say where they came from."""
    for file in pack.all_files():
        model = file.model
        if model is None or isinstance(model, models.UNTRANSLATED_MODELS):
            continue
        unstamped: list[PathKey] = []
        for path, value in iter_texts(model):
            label = field_label(path)
            for key in value:
                if key not in meta.locales:
                    _add(problems, file, (*path, key),
                         f'"{label}" has a text in "{key}", which is not one of the pack\'s '
                         f"locales ({', '.join(meta.locales)})")
            source = value.get(meta.source_locale)
            if isinstance(source, models.Translation):
                _add(problems, file, (*path, meta.source_locale),
                     f'"{label} > {meta.source_locale}" is the source text: write it as plain '
                     "text, without status or source_hash")
            for locale in meta.locales:
                state = text_status(value, locale, meta.source_locale)
                where = (*path, locale)
                if state.state == "missing":
                    _add(problems, file, path,
                         f'"{label}" has no "{locale}" text: add it (the pack declares the '
                         f"locale {locale})")
                elif state.state == "stale":
                    _add(problems, file, where,
                         f'"{label} > {locale}" was translated from an older source text: '
                         "check it against the new text, then run safesteps i18n stamp "
                         f"--refresh {file.shown}", "warning")
                elif state.state == "unstamped" and isinstance(value.get(locale), str):
                    _add(problems, file, where,
                         f'"{label} > {locale}" is a translation written as plain text: give it '
                         "text: and status: (draft, machine-drafted or reviewed)")
                elif state.state == "unstamped":
                    unstamped.append(where)
        if unstamped:
            _add(problems, file, unstamped[0],
                 f"{len(unstamped)} translation(s) in this file have no source_hash, so "
                 "SafeSteps cannot tell when their source text changes: run "
                 f"safesteps i18n stamp {file.shown}", "warning")


def _poll_limits(file: LoadedFile[Any], question: models.Question, path: PathKey,
                 problems: ProblemList) -> None:
    for locale, entry in question.question.items():
        text = entry if isinstance(entry, str) else entry.text
        if len(text) > POLL_QUESTION_MAX:
            _add(problems, file, (*path, "question", locale),
                 f'"{field_label((*path, "question", locale))}" has {len(text)} characters; '
                 f"quiz questions may have at most {POLL_QUESTION_MAX} (a Telegram limit)")
    for n, option in enumerate(question.options):
        for locale, entry in option.items():
            text = entry if isinstance(entry, str) else entry.text
            if len(text) > POLL_OPTION_MAX:
                where = (*path, "options", n, locale)
                _add(problems, file, where,
                     f'"{field_label(where)}" has {len(text)} characters; options may have at '
                     f"most {POLL_OPTION_MAX} (a Telegram limit)")
    for locale, entry in question.explanation.items():
        text = entry if isinstance(entry, str) else entry.text
        where = (*path, "explanation", locale)
        if len(text) > POLL_EXPLANATION_MAX:
            _add(problems, file, where,
                 f'"{field_label(where)}" has {len(text)} characters; explanations may have at '
                 f"most {POLL_EXPLANATION_MAX} (a Telegram limit)")
        if text.count("\n") > POLL_EXPLANATION_LINE_FEEDS:
            _add(problems, file, where,
                 f'"{field_label(where)}" has {text.count(chr(10))} line breaks; explanations '
                 f"may have at most {POLL_EXPLANATION_LINE_FEEDS} (a Telegram limit)")


def _unique(items: Iterable[tuple[str, LoadedFile[Any], PathKey]], what: str,
            problems: ProblemList) -> None:
    first: dict[str, LoadedFile[Any]] = {}
    for ident, file, path in items:
        if ident in first:
            _add(problems, file, path,
                 f'the {what} id "{ident}" is already used in {first[ident].shown}: '
                 "ids must be unique in a pack")
        else:
            first[ident] = file


def check_lessons(pack: Pack, meta: models.PackMeta, topics: set[str],
                  problems: ProblemList) -> set[str]:
    ids: list[tuple[str, LoadedFile[Any], PathKey]] = []
    unreadable: set[str] = set()
    for file in pack.lessons:
        lesson = file.model
        if lesson is None:
            unreadable.add(file.path.stem)  # already reported; do not also report links to it
            continue
        ids.append((lesson.id, file, ("id",)))
        if file.path.stem != lesson.id:
            _add(problems, file, ("id",),
                 f'the lesson id "{lesson.id}" does not match the file name '
                 f'"{file.path.name}": rename the file to {lesson.id}.yml or change the id')
        if file.path.parent.name != lesson.audience:
            _add(problems, file, ("audience",),
                 f'this lesson is for "{lesson.audience}" but sits in the folder '
                 f'"{file.path.parent.name}": move it to lessons/{lesson.audience}/', "warning")
        if lesson.audience not in meta.audiences:
            _add(problems, file, ("audience",),
                 f'"{lesson.audience}" is not one of the pack\'s audiences '
                 f"({', '.join(meta.audiences)})")
        if lesson.topic not in topics:
            _add(problems, file, ("topic",),
                 f'the topic "{lesson.topic}" is not in pack.yml: use one of '
                 f"{', '.join(sorted(topics)) or '(none declared)'}")
        if not 3 <= len(lesson.steps) <= 7:
            _add(problems, file, ("steps",),
                 f"this lesson has {len(lesson.steps)} steps; lessons read best in 3 to 7",
                 "warning")
        for n, step in enumerate(lesson.steps):
            if step.image and not (pack.location.content / step.image).is_file():
                _add(problems, file, ("steps", n, "image"),
                     f'the image "{step.image}" does not exist in the pack folder')
            if step.check is not None:
                _poll_limits(file, step.check, ("steps", n, "check"), problems)
    _unique(ids, "lesson", problems)
    return {ident for ident, _, _ in ids} | unreadable


def check_quizzes(pack: Pack, meta: models.PackMeta, lesson_ids: set[str],
                  problems: ProblemList) -> None:
    ids: list[tuple[str, LoadedFile[Any], PathKey]] = []
    for file in pack.quizzes:
        quiz = file.model
        if quiz is None:
            continue
        ids.append((quiz.id, file, ("id",)))
        if file.path.stem != quiz.id:
            _add(problems, file, ("id",),
                 f'the quiz id "{quiz.id}" does not match the file name "{file.path.name}"')
        if quiz.audience not in meta.audiences:
            _add(problems, file, ("audience",),
                 f'"{quiz.audience}" is not one of the pack\'s audiences')
        for n, lesson in enumerate(quiz.lessons):
            if lesson not in lesson_ids:
                _add(problems, file, ("lessons", n),
                     f'this quiz links the lesson "{lesson}", which is not in the pack: '
                     "check the spelling of the lesson id")
        seen: set[str] = set()
        for n, question in enumerate(quiz.questions):
            if question.id in seen:
                _add(problems, file, ("questions", n, "id"),
                     f'the question id "{question.id}" is used twice in this quiz')
            seen.add(question.id or "")
            _poll_limits(file, question, ("questions", n), problems)
    _unique(ids, "quiz", problems)


def check_faqs(pack: Pack, meta: models.PackMeta, topics: set[str], locales: list[str],
               problems: ProblemList) -> None:
    ids: list[tuple[str, LoadedFile[Any], PathKey]] = []
    phrasing_owner: dict[tuple[str, str], str] = {}
    for file in pack.faqs:
        if file.model is None:
            continue
        for n, faq in enumerate(file.model.faqs):
            ids.append((faq.id, file, ("faqs", n, "id")))
            if faq.topic is not None and faq.topic not in topics:
                _add(problems, file, ("faqs", n, "topic"),
                     f'the topic "{faq.topic}" is not in pack.yml')
            for locale in locales:
                examples = faq.examples.get(locale, [])
                if len(examples) < MIN_FAQ_EXAMPLES:
                    _add(problems, file, ("faqs", n, "examples"),
                         f'the FAQ "{faq.id}" has {len(examples)} "{locale}" examples; it needs '
                         f"at least {MIN_FAQ_EXAMPLES} ways people ask in every language")
            for locale, examples in faq.examples.items():
                if locale not in meta.locales:
                    _add(problems, file, ("faqs", n, "examples", locale),
                         f'"{locale}" is not one of the pack\'s locales')
                for k, example in enumerate(examples):
                    key = (locale, _folded(example))
                    owner = phrasing_owner.get(key)
                    if owner is not None and owner != faq.id:
                        _add(problems, file, ("faqs", n, "examples", locale, k),
                             f'the example "{example}" is also an example of the FAQ "{owner}": '
                             "an example may belong to one FAQ only")
                    phrasing_owner.setdefault(key, faq.id)
    _unique(ids, "FAQ", problems)


def check_hotlines(pack: Pack, problems: ProblemList, settings: RuleSettings) -> None:
    countries: dict[str, LoadedFile[Any]] = {}
    ids: list[tuple[str, LoadedFile[Any], PathKey]] = []
    today = settings.current_date()
    max_age = dt.timedelta(days=settings.hotline_max_age_days)
    for file in pack.hotlines:
        data = file.model
        if data is None:
            continue
        if data.country not in Locale("en").territories or not re.fullmatch("[A-Z]{2}",
                                                                            data.country):
            _add(problems, file, ("country",),
                 f'"{data.country}" is not an ISO 3166 alpha-2 country code such as CN or VN')
        elif file.path.stem != data.country:
            _add(problems, file, ("country",),
                 f'the file is named {file.path.name} but is for {data.country}: '
                 f"rename it to {data.country}.yml")
        if data.country in countries:
            _add(problems, file, ("country",),
                 f"{data.country} already has a file: {countries[data.country].shown}")
        countries[data.country] = file
        if not data.emergency:
            _add(problems, file, ("emergency",) if file.positions.values.get(("emergency",))
                 else (),
                 f"{data.country} has no emergency number: add the police number first under "
                 "emergency: (people in danger need it before anything else)")
        elif data.emergency[0].service not in ("police", "general"):
            _add(problems, file, ("emergency", 0, "service"),
                 "the first emergency number is what people in danger see first: put the police "
                 "(or general emergency) number at the top of the list")
        dated: list[tuple[PathKey, str, dt.date]] = []
        for n, entry in enumerate(data.emergency):
            _check_number(file, ("emergency", n, "number"), entry.number, problems)
            dated.append((("emergency", n), entry.number, entry.verified_on))
        for n, line in enumerate(data.hotlines):
            ids.append((line.id, file, ("hotlines", n, "id")))
            _check_number(file, ("hotlines", n, "number"), line.number, problems)
            dated.append((("hotlines", n), line.number, line.verified_on))
            if line.region is not None and (
                not REGION.match(line.region) or not line.region.startswith(data.country + "-")
            ):
                _add(problems, file, ("hotlines", n, "region"),
                     f'"{line.region}" is not a region code of {data.country}: use ISO 3166-2, '
                     f"such as {data.country}-01")
            for k, language in enumerate(line.languages):
                if not known_language(language):
                    _add(problems, file, ("hotlines", n, "languages", k),
                         f'"{language}" is not a language code SafeSteps knows')
            hours = " ".join(
                (v if isinstance(v, str) else v.text) for v in (line.hours or {}).values()
            )
            if ALWAYS_OPEN.search(hours) and not line.hours_quote:
                _add(problems, file, ("hotlines", n, "hours"),
                     "these hours say the line is always open: add hours_quote with the "
                     "source's own words that say so, or remove the claim")
        for path, number, checked in dated:
            if checked > today:
                _add(problems, file, (*path, "verified_on"),
                     f"the date checked for {number} is in the future ({checked.isoformat()})")
            elif today - checked > max_age:
                _add(problems, file, (*path, "verified_on"),
                     f"{number} was last checked on {checked.isoformat()}, more than "
                     f"{settings.hotline_max_age_days} days ago: check the source again and "
                     "update verified_on", "warning")
    _unique(ids, "hotline", problems)


def _check_number(file: LoadedFile[Any], path: PathKey, number: str,
                  problems: ProblemList) -> None:
    if not PHONE.match(number):
        _add(problems, file, path,
             f'"{number}" is not a phone number: use digits, spaces, dashes and an optional '
             'leading +, in quotes, such as "110" or "+84 111"')


def _folded(text: str) -> str:
    """A text as duplicate checks compare it: no case, single spaces."""
    return " ".join(text.casefold().split())


def _check_file_locale(file: LoadedFile[Any], locale: str, what: str, locales: list[str],
                       problems: ProblemList) -> None:
    """A one-locale file is named after its locale, one of the pack's."""
    if file.path.stem != locale:
        _add(problems, file, ("locale",),
             f"{what} {locale} but the file is named {file.path.name}: rename it to "
             f"{locale}.yml")
    if locale not in locales:
        _add(problems, file, ("locale",), f'"{locale}" is not one of the pack\'s locales')


def check_lexicons(pack: Pack, locales: list[str], problems: ProblemList) -> None:
    by_locale: dict[str, LoadedFile[Any]] = {}
    for file in pack.lexicons:
        lexicon = file.model
        if lexicon is None:
            continue
        _check_file_locale(file, lexicon.locale, "this lexicon is for", locales, problems)
        by_locale[lexicon.locale] = file
        count = lexicon.entry_count()
        if count < MIN_LEXICON_ENTRIES:
            _add(problems, file, ("locale",),
                 f"this lexicon has {count} entries; a safety lexicon needs at least "
                 f"{MIN_LEXICON_ENTRIES} (words, phrases, misspellings and emoji)")
        _check_lexicon_lists(file, lexicon, problems)
        matcher = DangerMatcher.from_lexicon(
            lexicon.words, lexicon.phrases, lexicon.misspellings, lexicon.emoji
        )
        for n, example in enumerate(lexicon.examples.danger):
            if matcher.find(example) is None:
                _add(problems, file, ("examples", "danger", n),
                     f'the danger example "{example}" matches no entry: add a word or phrase '
                     "that catches it")
        for n, example in enumerate(lexicon.examples.safe):
            hit = matcher.find(example)
            if hit is not None:
                _add(problems, file, ("examples", "safe", n),
                     f'the safe example "{example}" matches the entry "{hit.term}": make that '
                     "entry more specific")
    for locale in locales:
        if locale not in by_locale and pack.meta is not None:
            meta = pack.meta
            _add(problems, meta, ("locales",),
                 f"there is no safety lexicon for {locale}: add safety/{locale}.yml (the safety "
                 "layer needs one for every language)")


def _check_lexicon_lists(file: LoadedFile[Any], lexicon: models.Lexicon,
                         problems: ProblemList) -> None:
    seen: dict[str, str] = {}
    for kind in ("words", "phrases", "misspellings", "emoji"):
        for n, entry in enumerate(getattr(lexicon, kind)):
            folded = _folded(entry)
            if not folded:
                _add(problems, file, (kind, n), "this entry is empty: remove it")
            elif folded in seen:
                _add(problems, file, (kind, n),
                     f'"{entry}" is already listed under {seen[folded]}', "warning")
            else:
                seen[folded] = kind


def check_safety_examples(pack: Pack, locales: list[str], problems: ProblemList) -> None:
    """The danger detector's examples: known ids, named sources, each message once."""
    for file in pack.safety_examples:
        examples = file.model
        if examples is None:
            continue
        _check_file_locale(file, examples.locale, "these examples are in", locales, problems)
        sources = {s.id for s in examples.sources}
        seen: set[str] = set()
        for section, known in (("danger", SITUATIONS), ("negatives", NEGATIVE_CATEGORIES)):
            for key, items in getattr(examples, section).items():
                if key not in known:
                    _add(problems, file, (section, key),
                         f'"{key}" is not a {"situation" if section == "danger" else "category"}'
                         f" of docs/safety-taxonomy.md: use one of {', '.join(known)}")
                for n, item in enumerate(items):
                    folded = _folded(item.text)
                    if folded in seen:
                        _add(problems, file, (section, key, n),
                             f'"{item.text}" is listed twice: keep one', "warning")
                    seen.add(folded)
                    if section == "danger" and item.source is not None \
                            and item.source not in sources:
                        _add(problems, file, (section, key, n, "source"),
                             f'the source "{item.source}" is not among this file\'s sources: '
                             "add it there with its title, address and date")
