"""Every message SafeSteps renders fits Telegram: length, HTML, button data, in every locale."""

from __future__ import annotations

import html
import re
from functools import cache

import pytest

from bot.content import models
from bot.content.packs import Pack
from bot.content.validate import validate
from bot.i18n import country_name
from bot.render import (
    Button,
    MessageLimitError,
    RenderedMessage,
    Renderer,
    check_message,
    create_environment,
    visible_length,
)
from bot.settings import load_settings
from tests.conftest import ROOT, SHIPPED_LOCALES

ALLOWED_TAG = re.compile(r"</?(b|i|u|s|a|code|pre|blockquote)(\s[^>]*)?>")


@cache
def shipped_pack() -> Pack:
    (pack,) = validate(None, load_settings(ROOT)).packs
    return pack


def all_messages(locale: str) -> list[RenderedMessage]:
    pack = shipped_pack()
    renderer = Renderer(locale)
    out: list[RenderedMessage] = []
    for file in pack.lessons:
        lesson = file.model
        assert lesson is not None
        out += [renderer.lesson_step(lesson, n) for n in range(len(lesson.steps))]
        out.append(renderer.lesson_end(lesson, "x" * 40))
    for file in pack.quizzes:
        quiz = file.model
        assert quiz is not None
        for n, question in enumerate(quiz.questions):
            out.append(renderer.quiz_question(quiz, n))
            choices = len(renderer.option_texts(question))
            out += [renderer.quiz_feedback(question, [k]) for k in range(choices)]
    for file in pack.hotlines:
        country = file.model
        assert country is not None
        out.append(renderer.hotline_card(country, country_name(country.country, locale)))
    return out


@pytest.mark.parametrize("locale", SHIPPED_LOCALES)
def test_every_rendered_message_fits_telegram(locale: str) -> None:
    messages = all_messages(locale)
    assert len(messages) > 300
    for message in messages:
        check_message(message)  # raises on any limit
        assert visible_length(message.text) <= 4096
        for button in message.buttons:
            assert len(button.payload.encode()) <= 64
        # Every message offers a way on: the menu and help are always there.
        payloads = {b.payload for b in message.buttons}
        assert {"/menu", "/find_hotline"} <= payloads
        # Only Telegram's tags remain once escaped text is set aside.
        stripped = ALLOWED_TAG.sub("", message.text)
        assert "<" not in stripped and ">" not in stripped


@pytest.mark.parametrize("locale", SHIPPED_LOCALES)
def test_interface_strings_are_translated_in_messages(locale: str) -> None:
    lesson = shipped_pack().lessons[0].model
    assert lesson is not None
    text = Renderer(locale).lesson_step(lesson, 0).text
    expected = {"en": "Step 1 of", "zh-Hans": "第 1 步", "vi": "Bước 1/"}[locale]
    assert expected in text


def test_user_and_pack_values_are_escaped() -> None:
    hostile = '<b>"Ann" & Co\'s</b><script>alert(1)</script>'
    lesson = models.Lesson.model_validate({
        "id": "x", "audience": "children", "topic": "t",
        "title": {"en": hostile}, "steps": [{"text": {"en": hostile}}] * 3,
        "takeaways": [{"en": hostile}],
        "sources": [{"title": "s", "url": "https://example.org"}],
    })
    message = Renderer("en").lesson_step(lesson, 0)
    assert "<script>" not in message.text
    assert "&lt;b&gt;&#34;Ann&#34; &amp; Co&#39;s&lt;/b&gt;" in message.text
    assert html.unescape(ALLOWED_TAG.sub("", message.text)).count(hostile) == 2


def test_limits_are_enforced() -> None:
    with pytest.raises(MessageLimitError, match="4097 characters"):
        check_message(RenderedMessage("a" * 4097))
    assert check_message(RenderedMessage("&amp;" * 4096))  # entities count as one character
    with pytest.raises(MessageLimitError, match="65 bytes"):
        check_message(RenderedMessage("ok", (Button("Go", "/x" + "é" * 31 + "a"),)))
    with pytest.raises(MessageLimitError, match="<script>"):
        check_message(RenderedMessage("<script>x</script>"))
    with pytest.raises(MessageLimitError, match="unescaped"):
        check_message(RenderedMessage("1 < 2"))
    with pytest.raises(MessageLimitError, match="empty"):
        check_message(RenderedMessage("  "))


def test_the_environment_is_sandboxed() -> None:
    from jinja2.exceptions import SecurityError, UndefinedError

    env = create_environment()
    with pytest.raises(SecurityError):
        env.from_string("{{ ''.__class__.__mro__[1].__subclasses__() }}").render()
    with pytest.raises(UndefinedError):
        env.from_string("{{ missing_value }}").render()
    assert env.from_string("{{ v }}").render(v="<b>") == "&lt;b&gt;"
