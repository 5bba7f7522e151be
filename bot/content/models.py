"""Typed models of content packs: what volunteers write, as the kit uses it.

The field descriptions are shown to volunteers in validation messages, so they are written for
them. Rules that need more than one file (links, translations, limits) live in ``rules.py``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
MAX_SLUG = 40
AUDIENCES = ("children", "teens", "parents", "educators")
TRANSLATION_STATUSES = ("draft", "machine-drafted", "reviewed")

Audience = Literal["children", "teens", "parents", "educators"]
Status = Literal["draft", "machine-drafted", "reviewed"]


def _check_slug(value: Any) -> Any:
    if isinstance(value, str):
        if not SLUG.match(value):
            raise ValueError(
                f'"{value}" is not a valid id: use lowercase letters, digits and dashes, '
                "such as stay-close-in-crowds"
            )
        if len(value) > MAX_SLUG:
            raise ValueError(f"ids may be at most {MAX_SLUG} characters; this one has {len(value)}")
    return value


Slug = Annotated[str, BeforeValidator(_check_slug)]


def _check_url(value: Any) -> Any:
    if isinstance(value, str) and not re.match(r"^https?://[^\s/]+\.[^\s]+$", value):
        raise ValueError(f'"{value}" is not a web address: it should start with https://')
    return value


Url = Annotated[str, BeforeValidator(_check_url)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class Translation(Model):
    """A translated text with where it came from and how far it has been checked."""

    text: str = Field(description="the translated text")
    status: Status = Field(description="draft, machine-drafted or reviewed")
    source_hash: str | None = Field(
        default=None,
        description="fingerprint of the source text this was translated from "
        "(filled in by safesteps i18n stamp)",
    )
    note: str | None = Field(
        default=None,
        description="a note for reviewers, such as why a name or example was adapted",
    )


LocalizedValue = str | Translation


def _check_localized(value: Any) -> Any:
    if isinstance(value, str):
        raise ValueError(
            "this text needs one entry per language, such as en: ..., zh-Hans: ..., vi: ..."
        )
    return value


LocalizedText = Annotated[dict[str, LocalizedValue], BeforeValidator(_check_localized)]


def text_in(value: dict[str, LocalizedValue], locale: str) -> str | None:
    """The text of ``value`` in ``locale``, or None when that language is missing."""
    entry = value.get(locale)
    if entry is None:
        return None
    return entry if isinstance(entry, str) else entry.text


class Maintainer(Model):
    name: str = Field(description="a person or team who looks after the pack")
    contact: str = Field(description="an email address or web page where they can be reached")


class Topic(Model):
    id: Slug = Field(description="the topic's id, used by lessons and FAQs")
    title: LocalizedText = Field(description="the topic's name in every language")


class PackMeta(Model):
    """``pack.yml``: who made the pack, which languages and audiences it serves."""

    id: Slug = Field(description="the pack's id, such as safesteps-core")
    version: str = Field(description="the pack's version, such as 1.0.0")
    title: LocalizedText = Field(description="the pack's title in every language")
    source_locale: str = Field(description="the language translations are made from, such as en")
    default_locale: str = Field(description="the language shown when a user's is not in the pack")
    locales: list[str] = Field(min_length=1, description="the languages of the pack")
    audiences: list[Audience] = Field(min_length=1, description="who the pack is for")
    maintainers: list[Maintainer] = Field(min_length=1, description="who looks after the pack")
    review_by: dt.date = Field(description="the date by which the pack should be reviewed again")
    topics: list[Topic] = Field(default_factory=list, description="topics of lessons and FAQs")


class Question(Model):
    """A question of a quiz, or a check-your-understanding question in a lesson step."""

    id: Slug | None = Field(default=None, description="the question's id, unique in its quiz")
    type: Literal["single", "multiple", "true-false"] = Field(
        description="single, multiple or true-false"
    )
    question: LocalizedText = Field(description="the question in every language")
    options: list[LocalizedText] = Field(
        default_factory=list, description="the answers to choose from (2 to 10)"
    )
    answer: Any = Field(
        description="the number of the right option (from 1), a list of numbers, or true/false"
    )
    explanation: LocalizedText = Field(description="why the answer is right, in every language")
    difficulty: Literal["easy", "medium", "hard"] | None = Field(
        default=None, description="easy, medium or hard"
    )
    tags: list[Slug] = Field(default_factory=list, description="short words to find questions by")

    @model_validator(mode="after")
    def _answer_fits_type(self) -> Question:
        n = len(self.options)
        if self.type == "true-false":
            if self.options:
                raise ValueError(
                    "a true-false question has no options: remove them, the chat shows "
                    "True and False in the user's language"
                )
            if not isinstance(self.answer, bool):
                raise ValueError("the answer of a true-false question is true or false")
            return self
        if n < 2:
            raise ValueError(f"a {self.type} question needs at least 2 options; it has {n}")
        if n > 10:
            raise ValueError(f"a question may have at most 10 options; it has {n}")
        if self.type == "single":
            if isinstance(self.answer, bool) or not isinstance(self.answer, int):
                raise ValueError(
                    "the answer of a single-choice question is the number of the right option, "
                    "counting from 1, such as answer: 2"
                )
            if not 1 <= self.answer <= n:
                raise ValueError(
                    f"answer {self.answer} points to no option: there are {n} options, "
                    f"so the answer is a number from 1 to {n}"
                )
            return self
        answers = self.answer
        if not isinstance(answers, list) or not answers or not all(
            isinstance(a, int) and not isinstance(a, bool) for a in answers
        ):
            raise ValueError(
                "the answer of a multiple-choice question is a list of option numbers, "
                "such as answer: [1, 3]"
            )
        wrong = [a for a in answers if not 1 <= a <= n]
        if wrong:
            raise ValueError(
                f"answer {wrong[0]} points to no option: there are {n} options"
            )
        if len(set(answers)) != len(answers):
            raise ValueError("the answer lists an option twice")
        return self

    def correct_options(self) -> list[int]:
        """The right options, counted from 0 (for true-false: 0 = true, 1 = false)."""
        if self.type == "true-false":
            return [0 if self.answer else 1]
        if self.type == "single":
            return [int(self.answer) - 1]
        return [int(a) - 1 for a in self.answer]


class Step(Model):
    text: LocalizedText = Field(description="what this step says, in every language")
    image: str | None = Field(default=None, description="a picture, relative to the pack folder")
    check: Question | None = Field(
        default=None, description="an optional check-your-understanding question"
    )


class Source(Model):
    title: str = Field(description="the name of the source, such as UNICEF — Child protection")
    url: Url = Field(description="the web address of the source")


class Lesson(Model):
    """A lesson: a few short steps, key takeaways and where the facts come from."""

    id: Slug = Field(description="the lesson's id, the same as its file name")
    audience: Audience = Field(description="children, teens, parents or educators")
    topic: Slug = Field(description="one of the topics in pack.yml")
    title: LocalizedText = Field(description="the lesson's title in every language")
    summary: LocalizedText | None = Field(default=None, description="one sentence for lists")
    steps: list[Step] = Field(min_length=1, description="the lesson's steps, in order")
    takeaways: list[LocalizedText] = Field(min_length=1, description="key points for the end")
    sources: list[Source] = Field(min_length=1, description="where the facts come from")


class Quiz(Model):
    """A quiz: questions that practise one or more lessons."""

    id: Slug = Field(description="the quiz's id, the same as its file name")
    audience: Audience = Field(description="children, teens, parents or educators")
    title: LocalizedText = Field(description="the quiz's title in every language")
    lessons: list[Slug] = Field(default_factory=list, description="ids of the lessons it practises")
    questions: list[Question] = Field(min_length=1, description="the questions, in order")

    @field_validator("questions")
    @classmethod
    def _questions_have_ids(cls, questions: list[Question]) -> list[Question]:
        for n, q in enumerate(questions, 1):
            if q.id is None:
                raise ValueError(f"question #{n} needs an id, such as id: shout-for-help")
        return questions


class Faq(Model):
    id: Slug = Field(description="the FAQ's id")
    topic: Slug | None = Field(default=None, description="one of the topics in pack.yml")
    audiences: list[Audience] = Field(
        default_factory=list, description="who the answer is written for (default: everyone)"
    )
    question: LocalizedText = Field(description="the question as a short title")
    answer: LocalizedText = Field(description="the answer in every language")
    examples: dict[str, list[str]] = Field(
        description="at least 8 ways people ask this, per language"
    )
    sources: list[Source] = Field(
        default_factory=list, description="where the facts of the answer come from"
    )

    def question_and_answer(self, locale: str, fallback: str) -> tuple[str, str]:
        """The question and the answer in ``locale``, or in ``fallback`` where it is missing."""
        return (text_in(self.question, locale) or text_in(self.question, fallback) or "",
                text_in(self.answer, locale) or text_in(self.answer, fallback) or "")


class FaqFile(Model):
    faqs: list[Faq] = Field(min_length=1, description="the FAQs of this file")


class EmergencyNumber(Model):
    number: str = Field(description='the number, in quotes, such as "110"')
    service: Literal["police", "ambulance", "fire", "general"] = Field(
        description="police, ambulance, fire or general"
    )
    label: LocalizedText = Field(description="what the number is for, in every language")
    source_url: Url = Field(description="the official page that gives this number")
    verified_on: dt.date = Field(description="the date someone checked the source (YYYY-MM-DD)")


class Hotline(Model):
    id: Slug = Field(description="the hotline's id")
    name: LocalizedText = Field(description="the hotline's name in every language")
    number: str = Field(description='the number, in quotes, such as "111"')
    region: str | None = Field(default=None, description="an ISO 3166-2 region code, such as CN-YN")
    handles: LocalizedText = Field(description="what the hotline helps with")
    hours: LocalizedText | None = Field(
        default=None, description="opening hours, only as the source states them"
    )
    hours_quote: str | None = Field(
        default=None, description="the source's own words when it says the line is always open"
    )
    languages: list[str] = Field(default_factory=list, description="languages the line serves")
    text_options: LocalizedText | None = Field(
        default=None, description="SMS, chat or app options, as the source states them"
    )
    cost: Literal["free", "standard-rate", "unknown"] = Field(
        description="free, standard-rate or unknown"
    )
    source_url: Url = Field(description="the official page that gives this number")
    verified_on: dt.date = Field(description="the date someone checked the source (YYYY-MM-DD)")


class CountryHotlines(Model):
    """``hotlines/<CC>.yml``: the emergency numbers and hotlines of one country."""

    country: str = Field(description="the country's ISO 3166 alpha-2 code, such as CN")
    emergency: list[EmergencyNumber] = Field(
        default_factory=list, description="emergency numbers: police first"
    )
    hotlines: list[Hotline] = Field(default_factory=list, description="specialised hotlines")


class LexiconExamples(Model):
    danger: list[str] = Field(default_factory=list, description="messages that must match")
    safe: list[str] = Field(default_factory=list, description="messages that must not match")


class Lexicon(Model):
    """``safety/<locale>.yml``: what signals danger or a disclosure in one language."""

    locale: str = Field(description="the language of this lexicon, such as en")
    words: list[str] = Field(default_factory=list, description="whole words")
    phrases: list[str] = Field(default_factory=list, description="phrases, matched anywhere")
    misspellings: list[str] = Field(default_factory=list, description="common misspellings")
    emoji: list[str] = Field(default_factory=list, description="emoji that signal danger")
    examples: LexiconExamples = Field(
        default_factory=LexiconExamples, description="messages to check the lexicon with"
    )

    def entry_count(self) -> int:
        return len(self.words) + len(self.phrases) + len(self.misspellings) + len(self.emoji)


Style = Literal["plain", "misspelled", "no-tone-marks", "pinyin", "homophone", "code-switch",
                "non-native", "short", "emoji", "long-story", "slang"]


class SafetySource(Model):
    """A public case description that examples were drawn from (never copied)."""

    id: Slug = Field(description="a short id that examples name in their source field")
    title: str = Field(min_length=1, description="the title of the page or report")
    url: Url = Field(description="the address it was read at")
    checked: dt.date = Field(description="when it was read, as YYYY-MM-DD")
    drew_on: str = Field(default="", description="what the examples took from it")


class SafetyExample(Model):
    """One message, as a person would type it, with how it is written."""

    text: str = Field(min_length=1, max_length=2000, description="the message")
    style: Style = Field(default="plain", description="how it is written (docs/safety-taxonomy.md)")
    writer: Literal["self", "other"] | None = Field(
        default=None, description="danger only: self (in danger) or other (reporting someone)")
    source: str | None = Field(default=None, description="danger only: the id of a source")


class SafetyExamples(Model):
    """``safety-examples/<locale>.yml``: labelled messages the danger detector learns from.

    Situation and category ids are those of docs/safety-taxonomy.md.
    """

    locale: str = Field(description="the language of these examples, such as en")
    review: str = Field(default="draft", description="how far the examples have been reviewed")
    author: str = Field(default="", description="who wrote them, and how")
    sources: list[SafetySource] = Field(default_factory=list,
                                        description="public case descriptions drawn on")
    danger: dict[str, list[SafetyExample]] = Field(
        default_factory=dict, description="situation id: messages from or about someone in danger")
    negatives: dict[str, list[SafetyExample]] = Field(
        default_factory=dict, description="category id: everyday messages that are not danger")


# Files whose texts are not translated (each locale has its own file).
UNTRANSLATED_MODELS = (Lexicon, SafetyExamples)


# Every model of a pack file, for messages that need to know all field names.
ALL_MODELS: tuple[type[BaseModel], ...] = (
    PackMeta, Lesson, Step, Question, Quiz, Faq, FaqFile, Hotline, EmergencyNumber,
    CountryHotlines, Lexicon, LexiconExamples, Translation, Source, Topic, Maintainer,
    SafetySource, SafetyExample, SafetyExamples,
)
