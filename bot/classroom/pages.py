"""The classroom's pages: `/host` for the teacher's projector and `/join` for pupils' phones.

Light pages with inline script and style (nothing from elsewhere), interface strings from the
Babel catalogs; quiz text comes from the API in the session's language.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from jinja2.sandbox import ImmutableSandboxedEnvironment

from bot.chat.web import CSP, page_locale
from bot.content.library import ContentLibrary
from bot.i18n import Translator, own_language_name
from bot.render import create_environment
from bot.settings import ClassroomSettings

Gettext = Callable[..., str]


def pupil_texts(_: Gettext) -> dict[str, str]:
    return {
        "failed": _("Could not reach the quiz. Check your connection and try again."),
        "reconnecting": _("Connection lost: trying again …"),
        "joined_as": _("You are in, as %(nickname)s."),
        "wait_start": _("Wait for your teacher to start the quiz."),
        "number": _("Question %(n)s of %(total)s"),
        "seconds": _("%(n)s s"),
        "send": _("Send my answer"),
        "pick_all": _("Choose every right answer, then send."),
        "sent": _("Answer sent. Wait for the others …"),
        "paused": _("Paused"),
        "no_answer": _("No answer this time."),
        "right": _("Right! +%(points)s"),
        "wrong": _("Not quite."),
        "answer": _("The answer: %(answer)s"),
        "score": _("Your score: %(score)s (place %(rank)s of %(players)s)"),
        "finished": _("The quiz is over. Well done!"),
        "homework_score": _("%(correct)s of %(total)s right, %(score)s points."),
        "next": _("Next question"),
    }


def refusal_texts(_: Gettext) -> dict[str, str]:
    """What pupils read when the API refuses (by the API's ``reason``)."""
    return {
        "unknown_code": _("No quiz has this code. Check the code on your teacher's screen."),
        "ended": _("This quiz has ended."),
        "nickname_empty": _("Choose a nickname."),
        "nickname_long": _("That nickname is too long: use at most 20 characters."),
        "nickname_personal": _("Please do not use numbers, addresses or contact details in a "
                               "nickname. Make one up."),
        "nickname_symbol": _("A nickname cannot start with = + - or @."),
        "nickname_taken": _("Someone already has that nickname. Pick another."),
        "full": _("This quiz is full."),
        "late": _("Time is up for this question."),
        "out_of_turn": _("This question is closed. Wait for the next one."),
        "paused": _("The quiz is paused."),
        "unknown_player": _("You are no longer in this quiz. Join again."),
        "rate_limited": _("Too many tries from this phone. Wait a few seconds and try again."),
    }


def host_refusal_texts(_: Gettext) -> dict[str, str]:
    """What the teacher reads when the API refuses (by the API's ``reason``)."""
    return {
        "teacher_key_missing": _("Enter the teacher key to start a class quiz."),
        "teacher_key_wrong": _("That teacher key is not right. Check it and try again."),
        "too_many_sessions": _("Too many class quizzes are running for this teacher. End one "
                               "before starting another."),
        "rate_limited": _("Too many requests from this computer. Wait a few seconds and try "
                          "again."),
        "ended": _("This quiz has ended."),
    }


def host_texts(_: Gettext) -> dict[str, str]:
    return {
        "failed": _("Could not reach SafeSteps. Is it still running?"),
        "reconnecting": _("Connection lost: trying again …"),
        "class_quiz": _("Class quiz"),
        "questions": _("%(n)s questions"),
        "start": _("Start"),
        "next": _("Next question"),
        "finish": _("Finish"),
        "pause": _("Pause"),
        "resume": _("Resume"),
        "paused": _("Paused"),
        "join_at": _("Join at"),
        "join_line": _("Join at %(url)s with the code %(code)s"),
        "only_here": _("Only this computer can open this address. For pupils' phones, start "
                       "SafeSteps with make run HOST=0.0.0.0 and open this page by the "
                       "computer's network address, or set classroom.public_url."),
        "code": _("Code"),
        "qr": _("QR code of the join link"),
        "joined": _("%(n)s joined"),
        "deadline": _("Open until %(when)s"),
        "number": _("Question %(n)s of %(total)s"),
        "answered": _("%(n)s of %(total)s answered"),
        "leaderboard": _("Top 5"),
        "podium": _("Podium"),
        "question": _("Question"),
        "answers": _("Answers"),
        "correct_rate": _("Right"),
        "hardest": _("hardest"),
        "confirm_end": _("End the quiz for everyone?"),
        "confirm_new": _("Leave this quiz and start a new one? It keeps running."),
    }


def add_classroom_pages(app: web.Application, settings: ClassroomSettings,
                        library: ContentLibrary) -> None:
    environments: dict[str, ImmutableSandboxedEnvironment] = {}

    def render(template: str, locale: str, **values: object) -> web.Response:
        if locale not in environments:
            environments[locale] = create_environment(Translator(locale), "bot.classroom")
        html = environments[locale].get_template(template).render(lang=locale, **values)
        return web.Response(text=html, content_type="text/html", headers={
            "Content-Security-Policy": CSP, "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"})

    async def host(request: web.Request) -> web.Response:
        locale = page_locale(request, library)
        _ = Translator(locale).gettext
        return render("host.html.j2", locale, texts=host_texts(_),
                      reasons=host_refusal_texts(_),
                      languages=[{"tag": t, "name": own_language_name(t)}
                                 for t in library.locales],
                      seconds=settings.seconds_per_question,
                      retention_days=settings.retention_days)

    async def join(request: web.Request) -> web.Response:
        locale = page_locale(request, library)
        _ = Translator(locale).gettext
        code = "".join(ch for ch in request.query.get("code", "") if ch.isdigit())[:12]
        return render("join.html.j2", locale, texts=pupil_texts(_),
                      reasons=refusal_texts(_), code=code)

    app.router.add_get("/host", host)
    app.router.add_get("/join", join)
