"""Turn pack content into chat messages: Telegram HTML, buttons, quiz objects.

One jinja2 environment factory for the whole kit: sandboxed, autoescaping, strict about unknown
variables. Every rendered message is checked against Telegram's limits before it leaves.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from jinja2 import PackageLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import escape

from bot.content import models
from bot.content.rules import CALLBACK_DATA_MAX_BYTES, MESSAGE_MAX
from bot.i18n import Translator, country_name, format_date, language_name, own_language_name

TELEGRAM_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
     "blockquote", "tg-spoiler", "span"}
)
_TAG = re.compile(r"</?([a-zA-Z][a-zA-Z0-9-]*)(?:\s[^<>]*)?>")


class MessageLimitError(ValueError):
    """A rendered message that Telegram would refuse."""


def create_environment(translator: Translator | None = None,
                       package: str = "bot.render") -> ImmutableSandboxedEnvironment:
    """The kit's one jinja2 environment factory: sandboxed, autoescaped, strict about unknown
    values, with the interface catalog installed. ``package`` holds the templates folder."""
    env = ImmutableSandboxedEnvironment(
        loader=PackageLoader(package, "templates"),
        autoescape=select_autoescape(
            enabled_extensions=("html", "j2"), default_for_string=True, default=True),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=False,
        keep_trailing_newline=False,
    )
    catalog = translator or Translator("en")
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=catalog.gettext, ngettext=catalog.ngettext, newstyle=False
    )
    return env


@dataclass(frozen=True)
class Button:
    title: str
    payload: str


@dataclass(frozen=True)
class RenderedMessage:
    """One chat message: HTML text (Telegram's subset), buttons, an optional quiz."""

    text: str
    buttons: tuple[Button, ...] = ()
    quiz: dict[str, Any] | None = None
    image: str | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"text": self.text}
        if self.buttons:
            out["buttons"] = [{"title": b.title, "payload": b.payload} for b in self.buttons]
        if self.quiz is not None:
            out["quiz"] = self.quiz
        if self.image is not None:
            out["image"] = self.image
        return out


def audience_label(audience: str, _: Translator) -> str:
    """The name of an audience as users see it."""
    labels = {
        "children": _("Children (6–11)"),
        "teens": _("Teenagers (12–17)"),
        "parents": _("Parents and families"),
        "educators": _("Teachers and volunteers"),
    }
    return labels.get(audience, audience)


def visible_length(text: str) -> int:
    """Characters Telegram counts: text after its HTML entities are parsed."""
    return len(html.unescape(_TAG.sub("", text)))


def check_message(message: RenderedMessage) -> RenderedMessage:
    """Refuse a message Telegram would reject: too long, bad tags, oversized button data."""
    length = visible_length(message.text)
    if not message.text.strip():
        raise MessageLimitError("the message is empty")
    if length > MESSAGE_MAX:
        raise MessageLimitError(
            f"the message has {length} characters; Telegram allows {MESSAGE_MAX}")
    for tag in _TAG.findall(message.text):
        if tag.lower() not in TELEGRAM_TAGS:
            raise MessageLimitError(f"<{tag}> is not a tag Telegram's HTML mode accepts")
    stray = _TAG.sub("", message.text)
    if "<" in stray or ">" in stray:
        raise MessageLimitError("the message has an unescaped < or >")
    for button in message.buttons:
        size = len(button.payload.encode("utf-8"))
        if size > CALLBACK_DATA_MAX_BYTES:
            raise MessageLimitError(
                f"the button '{button.title}' carries {size} bytes; Telegram allows "
                f"{CALLBACK_DATA_MAX_BYTES}"
            )
        if not button.title.strip():
            raise MessageLimitError("a button has no title")
    return message


def payload(intent: str, **entities: str | int) -> str:
    """A button payload Rasa reads as an intent with entities: /intent{"k":"v"}."""
    if not entities:
        return f"/{intent}"
    return f"/{intent}" + json.dumps(entities, ensure_ascii=False, separators=(",", ":"))


@dataclass
class Renderer:
    """Renders pack content in one locale, falling back to the pack's source locale."""

    locale: str
    fallback: str = "en"
    translator: Translator = field(init=False)

    def __post_init__(self) -> None:
        self.translator = Translator(self.locale)
        self._env = create_environment(self.translator)

    def text(self, value: dict[str, models.LocalizedValue] | None) -> str:
        if not value:
            return ""
        return (
            models.text_in(value, self.locale)
            or models.text_in(value, self.fallback)
            or next(iter(models.text_in(value, k) or "" for k in value))
        )

    def _render(self, template: str, **context: Any) -> str:
        return self._env.get_template(template).render(**context).strip()

    def nav_buttons(self, *extra: Button) -> tuple[Button, ...]:
        _ = self.translator
        return (*extra, Button(_("Menu"), payload("menu")),
                Button(_("Get help"), payload("find_hotline")))

    def lesson_step(self, lesson: models.Lesson, index: int) -> RenderedMessage:
        _ = self.translator
        step = lesson.steps[index]
        check = self.text(step.check.question) if step.check else None
        text = self._render(
            "lesson_step.html.j2",
            title=self.text(lesson.title),
            number=index + 1,
            total=len(lesson.steps),
            text=self.text(step.text),
            check=check,
        )
        buttons: list[Button] = []
        if step.check is not None:
            buttons += self._answer_buttons(step.check)
        if index > 0:
            buttons.append(Button(_("Back"), payload("back")))
        buttons.append(Button(_("Next"), payload("next")))
        return check_message(
            RenderedMessage(text, self.nav_buttons(*buttons), image=step.image)
        )

    def lesson_end(self, lesson: models.Lesson, quiz_id: str | None) -> RenderedMessage:
        _ = self.translator
        text = self._render(
            "lesson_end.html.j2",
            title=self.text(lesson.title),
            takeaways=[self.text(t) for t in lesson.takeaways],
        )
        buttons = [Button(_("Take the quiz"), payload("open_quiz", q=quiz_id))] if quiz_id else []
        buttons.append(Button(_("More lessons"), payload("lessons")))
        return check_message(RenderedMessage(text, self.nav_buttons(*buttons)))

    def option_texts(self, question: models.Question) -> list[str]:
        _ = self.translator
        if question.type == "true-false":
            return [_("True"), _("False")]
        return [self.text(option) for option in question.options]

    def _answer_buttons(self, question: models.Question) -> list[Button]:
        labels = self.option_texts(question)
        if question.type == "true-false":
            return [Button(label, payload("answer", o=n + 1)) for n, label in enumerate(labels)]
        return [Button(chr(ord("A") + n), payload("answer", o=n + 1)) for n in range(len(labels))]

    def quiz_question(self, quiz: models.Quiz, index: int) -> RenderedMessage:
        question = quiz.questions[index]
        labels = self.option_texts(question)
        options = [
            {"label": chr(ord("A") + n), "text": label} for n, label in enumerate(labels)
        ]
        text = self._render(
            "quiz_question.html.j2",
            title=self.text(quiz.title),
            number=index + 1,
            total=len(quiz.questions),
            question=self.text(question.question),
            options=[] if question.type == "true-false" else options,
            multiple=question.type == "multiple",
        )
        quiz_object = {
            "question": self.text(question.question),
            "options": labels,
            "type": question.type,
            "correct": question.correct_options(),
            "explanation": self.text(question.explanation),
            "index": index,
            "total": len(quiz.questions),
        }
        return check_message(
            RenderedMessage(text, self.nav_buttons(*self._answer_buttons(question)),
                            quiz=quiz_object)
        )

    def quiz_feedback(self, question: models.Question, chosen: Sequence[int],
                      next_payload: str = "next") -> RenderedMessage:
        """Feedback on an answer; ``chosen`` counts options from 0."""
        _ = self.translator
        correct = sorted(question.correct_options())
        labels = self.option_texts(question)
        answer = "; ".join(labels[n] for n in correct)
        text = self._render(
            "quiz_feedback.html.j2",
            correct=sorted(chosen) == correct,
            answer=answer,
            explanation=self.text(question.explanation),
        )
        return check_message(
            RenderedMessage(text, self.nav_buttons(Button(_("Next"), payload(next_payload))))
        )

    def hotline_card(self, country: models.CountryHotlines, country_name: str) -> RenderedMessage:
        _ = self.translator
        emergency = [
            {"label": self.text(e.label), "number": e.number} for e in country.emergency
        ]
        lines = [
            {
                "name": self.text(h.name),
                "number": h.number,
                "handles": self.text(h.handles),
                "hours": self.text(h.hours),
                "languages": ", ".join(language_name(lang, self.locale) for lang in h.languages),
                "text_options": self.text(h.text_options),
                "free": h.cost == "free",
            }
            for h in country.hotlines
        ]
        dates = [e.verified_on for e in country.emergency]
        dates += [h.verified_on for h in country.hotlines]
        checked = format_date(min(dates), self.locale) if dates else ""
        text = self._render(
            "hotline_card.html.j2",
            country=country_name,
            emergency=emergency,
            hotlines=lines,
            checked=checked,
        )
        return check_message(RenderedMessage(text, self.nav_buttons(
            Button(_("Another country"), payload("choose_country")))))

    # Menus and choices -------------------------------------------------------------------

    def menu(self, welcome: bool, country: models.CountryHotlines | None) -> RenderedMessage:
        _ = self.translator
        first = country.emergency[0] if country and country.emergency else None
        text = self._render(
            "menu.html.j2", welcome=welcome,
            emergency={"number": first.number} if first else None,
        )
        buttons = (
            Button(_("Lessons"), payload("lessons")),
            Button(_("Quiz"), payload("quiz")),
            Button(_("Who to call"), payload("find_hotline")),
            Button(_("Language"), payload("change_language")),
            Button(_("Who I am"), payload("choose_audience")),
            Button(_("Privacy"), payload("privacy")),
        )
        return check_message(RenderedMessage(text, buttons))

    def choose(self, prompt: str, options: list[Button]) -> RenderedMessage:
        """A question answered with buttons, always with the way back to the menu."""
        return check_message(RenderedMessage(str(escape(prompt)), self.nav_buttons(*options)))

    def choose_audience(self) -> RenderedMessage:
        _ = self.translator
        return self.choose(_("Who are you? I will show lessons written for you."), [
            Button(audience_label(a, _), payload("set_audience", audience=a))
            for a in models.AUDIENCES
        ])

    def choose_language(self, locales: list[str]) -> RenderedMessage:
        _ = self.translator
        return self.choose(_("Choose your language."), [
            Button(own_language_name(loc), payload("set_locale", locale=loc)) for loc in locales
        ])

    def choose_country(self, countries: list[str]) -> RenderedMessage:
        _ = self.translator
        named = sorted((country_name(c, self.locale), c) for c in countries)
        return self.choose(_("Which country are you in?"), [
            Button(name, payload("choose_country", country=code)) for name, code in named
        ])

    def lesson_list(self, lessons: list[models.Lesson], audience: str) -> RenderedMessage:
        _ = self.translator
        prompt = _("Lessons for %(audience)s. Choose one:", audience=audience_label(audience, _))
        return self.choose(prompt, [
            *(Button(self.text(lesson.title), payload("open_lesson", l=lesson.id))
              for lesson in lessons),
            Button(_("Someone else"), payload("choose_audience")),
        ])

    def quiz_list(self, quizzes: list[models.Quiz], audience: str) -> RenderedMessage:
        _ = self.translator
        prompt = _("Quizzes for %(audience)s. Choose one:", audience=audience_label(audience, _))
        return self.choose(prompt, [
            *(Button(self.text(quiz.title), payload("open_quiz", q=quiz.id)) for quiz in quizzes),
            Button(_("Someone else"), payload("choose_audience")),
        ])

    def quiz_summary(self, quiz: models.Quiz, score: int, asked: int, missed: int
                     ) -> RenderedMessage:
        _ = self.translator
        text = _("You got %(score)s of %(total)s right.", score=score, total=asked)
        if missed == 0:
            text += " " + _("Excellent: every answer was right!")
        buttons = [Button(_("Try the missed questions again"), payload("retry_missed"))] \
            if missed else []
        buttons.append(Button(_("Another quiz"), payload("quiz")))
        return check_message(RenderedMessage(
            f"<b>{escape(self.text(quiz.title))}</b>\n{escape(text)}",
            self.nav_buttons(*buttons)))

    def faq(self, question: str, answer: str) -> RenderedMessage:
        """An FAQ's answer, under its question."""
        return check_message(RenderedMessage(f"<b>{escape(question)}</b>\n{escape(answer)}",
                                             self.nav_buttons()))

    def note(self, text: str, *buttons: Button) -> RenderedMessage:
        """A short plain message with the way on."""
        return check_message(RenderedMessage(str(escape(text)), self.nav_buttons(*buttons)))

    def multiple_choice_progress(self, question: models.Question, selected: list[int]
                                 ) -> RenderedMessage:
        """After each press of a multiple-choice question: what is chosen, and Done."""
        _ = self.translator
        labels = self.option_texts(question)
        chosen = ", ".join(chr(ord("A") + n) for n in sorted(selected)) or "—"
        buttons = [
            Button(("✅ " if n in selected else "") + chr(ord("A") + n),
                   payload("answer", o=n + 1))
            for n in range(len(labels))
        ]
        buttons.append(Button(_("Done"), payload("answer", o=0)))
        return check_message(RenderedMessage(
            escape(_("Chosen: %(chosen)s. Press more letters, or Done.", chosen=chosen)),
            self.nav_buttons(*buttons)))

    # Danger ---------------------------------------------------------------------------------

    def emergency(
        self,
        country: models.CountryHotlines | None,
        home: models.CountryHotlines | None = None,
        *,
        reporter: bool = False,
    ) -> RenderedMessage:
        """The reply to danger: emergency number first, hotlines, then for a person in danger
        "not your fault, safe to talk?", for someone reporting another person what to do now."""
        _ = self.translator
        first = country.emergency[0] if country and country.emergency else None
        lines = [
            {"number": h.number, "name": self.text(h.name), "hours": self.text(h.hours)}
            for h in (country.hotlines if country else [])
        ]
        home_lines = None
        if home is not None and home is not country:
            picks = [(e.number, self.text(e.label)) for e in home.emergency[:1]]
            picks += [(h.number, self.text(h.name)) for h in home.hotlines[:2]]
            home_lines = {
                "country": country_name(home.country, self.locale),
                "lines": [{"number": number, "name": name} for number, name in picks],
            }
        text = self._render(
            "emergency.html.j2",
            emergency={"number": first.number, "label": self.text(first.label)} if first else None,
            hotlines=lines,
            home=home_lines,
            reporter=reporter,
        )
        first_button = Button(_("Who to call"), payload("find_hotline")) if reporter \
            else Button(_("Yes, I can talk"), payload("safe_to_talk"))
        buttons = (
            first_button,
            Button(_("Continue where I was"), payload("resume")),
            Button(_("Menu"), payload("menu")),
        )
        return check_message(RenderedMessage(text, buttons))

    def check_in(self, country: models.CountryHotlines | None) -> RenderedMessage:
        """The line added to an answer when a message might tell of danger: calm, with the
        emergency number and a way to the hotlines."""
        _ = self.translator
        first = country.emergency[0] if country and country.emergency else None
        text = self._render("check_in.html.j2",
                            emergency={"number": first.number} if first else None)
        return check_message(RenderedMessage(text, (
            Button(_("Get help"), payload("find_hotline")),)))
