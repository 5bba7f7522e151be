"""Custom actions (rasa-sdk, served from .venv): lessons, quizzes, hotlines, settings.

Every reply goes through the renderer (Telegram limits, escaping) and offers a way on. State
lives in slots: the current activity, lesson step, quiz question, score and missed questions.
Messages for the chat API rather than the user travel as ``{"safesteps": {...}}`` custom JSON.
"""

from __future__ import annotations

import logging
import os
from abc import ABCMeta, abstractmethod
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, Restarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.assistant.faq_retrieval import FaqRetriever, choose, load_retriever
from bot.assistant.hotline_questions import asks_for_number, named_country
from bot.content import models
from bot.content.library import ContentLibrary
from bot.i18n import country_name
from bot.render import Button, RenderedMessage, Renderer, audience_label, payload
from bot.safety.layer import SafetyLayer, home_country
from bot.settings import Settings, load_settings

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def library() -> ContentLibrary:
    """The packs, read once per action server (at its start: see SafeStepsAction)."""
    return ContentLibrary.load(settings())


@lru_cache(maxsize=1)
def settings() -> Settings:
    return load_settings(Path(os.environ.get("SAFESTEPS_ROOT", ".")).resolve())


@lru_cache(maxsize=1)
def safety() -> SafetyLayer:
    return SafetyLayer(library())


@lru_cache(maxsize=1)
def retriever() -> FaqRetriever:
    """The FAQ retriever, trained by `safesteps train` (or now, once, if it is missing)."""
    return load_retriever(library(), settings().resolve(settings().build_dir) / "faq")


def send(dispatcher: CollectingDispatcher, message: RenderedMessage) -> None:
    data = message.as_json()
    custom = {"quiz": data["quiz"]} if "quiz" in data else None
    dispatcher.utter_message(
        text=data["text"], buttons=data.get("buttons", []), image=data.get("image"),
        json_message=custom,
    )


def tell_gateway(dispatcher: CollectingDispatcher, **directive: Any) -> None:
    """A message for the chat API, never shown to the user."""
    dispatcher.utter_message(json_message={"safesteps": directive})


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _entity(tracker: Tracker, name: str) -> Any:
    return next(tracker.get_latest_entity_values(name), None)


@dataclass
class Turn:
    """What an action needs to know about the conversation."""

    tracker: Tracker
    dispatcher: CollectingDispatcher

    @property
    def locale(self) -> str:
        return library().pick_locale(self.tracker.get_slot("locale"))

    @property
    def country(self) -> str:
        return str(self.tracker.get_slot("country") or library().default_country).upper()

    @property
    def audience(self) -> str | None:
        value = self.tracker.get_slot("audience")
        return value if value in models.AUDIENCES else None

    @property
    def render(self) -> Renderer:
        return safety().renderer(self.locale)

    def _(self, message: str, **values: Any) -> str:
        return self.render.translator(message, **values)

    def send(self, message: RenderedMessage) -> None:
        send(self.dispatcher, message)


class SafeStepsAction(Action, metaclass=ABCMeta):
    """Base: loads the packs when the action server registers the action, not at import."""

    action_name = ""

    def __init__(self) -> None:
        library()

    def name(self) -> str:
        return self.action_name

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        return self.act(Turn(tracker, dispatcher))

    @abstractmethod
    def act(self, turn: Turn) -> list[EventType]:
        """Do the action's work and return the events it causes."""


def show_menu(turn: Turn, welcome: bool = False) -> None:
    turn.send(turn.render.menu(welcome, library().hotlines_for(turn.country)))


class ActionWelcome(SafeStepsAction):
    action_name = "action_welcome"

    def act(self, turn: Turn) -> list[EventType]:
        show_menu(turn, welcome=True)
        return []


class ActionMenu(SafeStepsAction):
    action_name = "action_menu"

    def act(self, turn: Turn) -> list[EventType]:
        show_menu(turn)
        return []


class ActionContext(SafeStepsAction):
    """Locale and country arrive as entities and fill their slots; nothing to say."""

    action_name = "action_context"

    def act(self, turn: Turn) -> list[EventType]:
        return []


# Lessons --------------------------------------------------------------------------------------


def lesson_list(turn: Turn) -> None:
    if turn.audience is None:
        turn.send(turn.render.choose_audience())
        return
    turn.send(turn.render.lesson_list(library().lessons_for(turn.audience), turn.audience))


def show_step(turn: Turn, lesson: models.Lesson, step: int) -> list[EventType]:
    turn.send(turn.render.lesson_step(lesson, step))
    return [SlotSet("activity", "lesson"), SlotSet("lesson", lesson.id),
            SlotSet("step", float(step)), SlotSet("selected", None)]


def finish_lesson(turn: Turn, lesson: models.Lesson) -> list[EventType]:
    quiz = library().quiz_for_lesson(lesson.id)
    turn.send(turn.render.lesson_end(lesson, quiz.id if quiz else None))
    return [SlotSet("activity", None), SlotSet("step", float(len(lesson.steps)))]


def current_lesson(turn: Turn) -> tuple[models.Lesson, int] | None:
    lesson = library().lessons.get(turn.tracker.get_slot("lesson") or "")
    if lesson is None:
        return None
    return lesson, _int(turn.tracker.get_slot("step"))


class ActionListLessons(SafeStepsAction):
    action_name = "action_list_lessons"

    def act(self, turn: Turn) -> list[EventType]:
        lesson_list(turn)
        return [SlotSet("pending", "lessons")] if turn.audience is None else []


class ActionOpenLesson(SafeStepsAction):
    action_name = "action_open_lesson"

    def act(self, turn: Turn) -> list[EventType]:
        wanted = _entity(turn.tracker, "l")
        lesson = library().lessons.get(str(wanted))
        if lesson is None:
            turn.send(turn.render.note(turn._("I could not find that lesson.")))
            lesson_list(turn)
            return []
        saved = current_lesson(turn)
        if saved and saved[0].id == lesson.id and 0 < saved[1] < len(lesson.steps):
            turn.send(turn.render.note(turn._("Welcome back: you were at step %(n)s.",
                                              n=saved[1] + 1)))
            return show_step(turn, lesson, saved[1])
        return show_step(turn, lesson, 0)


def move(turn: Turn, delta: int) -> list[EventType]:
    activity = turn.tracker.get_slot("activity")
    if activity == "quiz" and delta > 0:
        return next_question(turn)
    where = current_lesson(turn)
    if activity != "lesson" or where is None:
        show_menu(turn)
        return []
    lesson, step = where
    target = step + delta
    if target >= len(lesson.steps):
        return finish_lesson(turn, lesson)
    return show_step(turn, lesson, max(0, target))


class ActionNext(SafeStepsAction):
    action_name = "action_next"

    def act(self, turn: Turn) -> list[EventType]:
        return move(turn, +1)


class ActionBack(SafeStepsAction):
    action_name = "action_back"

    def act(self, turn: Turn) -> list[EventType]:
        return move(turn, -1)


# Quizzes --------------------------------------------------------------------------------------


def quiz_order(turn: Turn, quiz: models.Quiz) -> list[int]:
    """The question indexes of this round: all of them, or the missed ones on a retry."""
    retry = turn.tracker.get_slot("retry")
    if isinstance(retry, list) and retry:
        return [_int(i) for i in retry if 0 <= _int(i, -1) < len(quiz.questions)]
    return list(range(len(quiz.questions)))


def current_quiz(turn: Turn) -> tuple[models.Quiz, int] | None:
    quiz = library().quizzes.get(turn.tracker.get_slot("quiz") or "")
    if quiz is None:
        return None
    return quiz, _int(turn.tracker.get_slot("question"))


@dataclass
class QuizPlace:
    """Where the user is in a quiz round: the quiz, the position in the round, the order."""

    quiz: models.Quiz
    position: int
    order: list[int]

    @property
    def index(self) -> int:
        """The question's index in the quiz."""
        return self.order[min(self.position, len(self.order) - 1)]


def quiz_place(turn: Turn) -> QuizPlace | None:
    where = current_quiz(turn)
    if where is None:
        return None
    return QuizPlace(where[0], where[1], quiz_order(turn, where[0]))


def ask(turn: Turn, quiz: models.Quiz, position: int) -> list[EventType]:
    order = quiz_order(turn, quiz)
    turn.send(turn.render.quiz_question(quiz, order[position]))
    return [SlotSet("activity", "quiz"), SlotSet("quiz", quiz.id),
            SlotSet("question", float(position)), SlotSet("answered", False),
            SlotSet("selected", None)]


def next_question(turn: Turn) -> list[EventType]:
    place = quiz_place(turn)
    if place is None:
        show_menu(turn)
        return []
    quiz, position, order = place.quiz, place.position, place.order
    if not turn.tracker.get_slot("answered"):
        return ask(turn, quiz, min(position, len(order) - 1))
    if position + 1 < len(order):
        return ask(turn, quiz, position + 1)
    missed = [_int(i) for i in turn.tracker.get_slot("missed") or []]
    score = _int(turn.tracker.get_slot("score"))
    turn.send(turn.render.quiz_summary(quiz, score, len(order), len(missed)))
    return [SlotSet("activity", None), SlotSet("retry", None)]


class ActionListQuizzes(SafeStepsAction):
    action_name = "action_list_quizzes"

    def act(self, turn: Turn) -> list[EventType]:
        if turn.audience is None:
            turn.send(turn.render.choose_audience())
            return [SlotSet("pending", "quizzes")]
        turn.send(turn.render.quiz_list(library().quizzes_for(turn.audience), turn.audience))
        return []


class ActionOpenQuiz(SafeStepsAction):
    action_name = "action_open_quiz"

    def act(self, turn: Turn) -> list[EventType]:
        quiz = library().quizzes.get(str(_entity(turn.tracker, "q")))
        if quiz is None:
            turn.send(turn.render.note(turn._("I could not find that quiz.")))
            return ActionListQuizzes().act(turn)
        turn.send(turn.render.note(turn._(
            "%(title)s: %(n)s questions. Choose the letter of your answer.",
            title=turn.render.text(quiz.title), n=len(quiz.questions))))
        events: list[EventType] = [SlotSet("retry", None), SlotSet("score", 0.0),
                                   SlotSet("missed", [])]
        # ask() reads the retry slot from the tracker: clear it there first.
        turn.tracker.slots["retry"] = None
        return events + ask(turn, quiz, 0)


class ActionRetryMissed(SafeStepsAction):
    action_name = "action_retry_missed"

    def act(self, turn: Turn) -> list[EventType]:
        quiz = library().quizzes.get(turn.tracker.get_slot("quiz") or "")
        missed = [_int(i) for i in turn.tracker.get_slot("missed") or []]
        if quiz is None or not missed:
            show_menu(turn)
            return []
        turn.tracker.slots["retry"] = missed
        return [SlotSet("retry", missed), SlotSet("score", 0.0), SlotSet("missed", [])] + \
            ask(turn, quiz, 0)


class ActionAnswer(SafeStepsAction):
    action_name = "action_answer"

    def act(self, turn: Turn) -> list[EventType]:
        option = _int(_entity(turn.tracker, "o"), -1)
        activity = turn.tracker.get_slot("activity")
        if activity == "lesson":
            return self.lesson_check(turn, option)
        if activity == "quiz":
            return self.quiz_answer(turn, option)
        show_menu(turn)
        return []

    def _choice(self, turn: Turn, question: models.Question, option: int
                ) -> tuple[list[int] | None, list[EventType]]:
        """The chosen options (from 0) once the answer is complete; None while choosing."""
        if question.type != "multiple":
            return [option - 1], []
        selected = [_int(i) for i in turn.tracker.get_slot("selected") or []]
        if option == 0:
            return (selected or None), []
        n = option - 1
        selected = [i for i in selected if i != n] if n in selected else [*selected, n]
        turn.send(turn.render.multiple_choice_progress(question, selected))
        return None, [SlotSet("selected", selected)]

    def lesson_check(self, turn: Turn, option: int) -> list[EventType]:
        where = current_lesson(turn)
        if where is None or where[1] >= len(where[0].steps):
            show_menu(turn)
            return []
        lesson, step = where
        question = lesson.steps[step].check
        if question is None or not self._valid(question, option):
            return show_step(turn, lesson, step)
        chosen, events = self._choice(turn, question, option)
        if chosen is None:
            return events
        turn.send(turn.render.quiz_feedback(question, chosen, next_payload="next"))
        return [SlotSet("selected", None)]

    def quiz_answer(self, turn: Turn, option: int) -> list[EventType]:
        place = quiz_place(turn)
        if place is None:
            show_menu(turn)
            return []
        quiz, position, index = place.quiz, place.position, place.index
        question = quiz.questions[index]
        if turn.tracker.get_slot("answered"):
            turn.send(turn.render.note(turn._("You already answered this question."),
                                       Button(turn._("Next"), payload("next"))))
            return []
        if not self._valid(question, option):
            return ask(turn, quiz, position)
        chosen, events = self._choice(turn, question, option)
        if chosen is None:
            return events
        right = sorted(chosen) == sorted(question.correct_options())
        score = _int(turn.tracker.get_slot("score")) + (1 if right else 0)
        missed = [_int(i) for i in turn.tracker.get_slot("missed") or []]
        if not right:
            missed.append(index)
        turn.send(turn.render.quiz_feedback(question, chosen, next_payload="next"))
        return [SlotSet("score", float(score)), SlotSet("missed", missed),
                SlotSet("answered", True), SlotSet("selected", None)]

    @staticmethod
    def _valid(question: models.Question, option: int) -> bool:
        count = 2 if question.type == "true-false" else len(question.options)
        lowest = 0 if question.type == "multiple" else 1
        return lowest <= option <= count


class ActionResume(SafeStepsAction):
    """After a pause (danger reply, a question): show where the user was."""

    action_name = "action_resume"

    def act(self, turn: Turn) -> list[EventType]:
        activity = turn.tracker.get_slot("activity")
        if activity == "lesson" and (where := current_lesson(turn)) is not None:
            lesson, step = where
            return show_step(turn, lesson, min(step, len(lesson.steps) - 1))
        if activity == "quiz" and (quiz_where := current_quiz(turn)) is not None:
            quiz, position = quiz_where
            return ask(turn, quiz, position)
        show_menu(turn)
        return []


# Hotlines and danger ----------------------------------------------------------------------------


def show_hotlines(turn: Turn, country: str) -> None:
    data = library().hotlines_for(country)
    if data is None:
        turn.send(turn.render.note(turn._(
            "SafeSteps has no checked numbers for %(country)s yet. In danger, call your local "
            "emergency number.", country=country_name(country, turn.locale))))
        turn.send(turn.render.choose_country(sorted(library().hotlines)))
        return
    turn.send(turn.render.hotline_card(data, country_name(data.country, turn.locale)))
    home = home_country(turn.locale)
    if home and home != data.country and (home_data := library().hotlines_for(home)):
        turn.send(turn.render.hotline_card(home_data, country_name(home, turn.locale)))


def country_asked_about(turn: Turn) -> str | None:
    """The country a message names, when SafeSteps has its hotlines."""
    text = str(turn.tracker.latest_message.get("text") or "")
    if text.startswith("/"):
        return None
    return named_country(text, tuple(sorted(library().hotlines)), tuple(library().locales))


class ActionHotlines(SafeStepsAction):
    """The hotline card of the country the user is in, or of the one they ask about."""

    action_name = "action_hotlines"

    def act(self, turn: Turn) -> list[EventType]:
        show_hotlines(turn, country_asked_about(turn) or turn.country)
        return []


class ActionFaq(SafeStepsAction):
    """A question: the FAQ's answer when the retriever is sure; "Did you mean" with up to
    three FAQs when it is unsure; the out-of-scope reply when nothing fits. A question for
    a number gets the hotline card of the country it names."""

    action_name = "action_faq"

    def __init__(self) -> None:
        super().__init__()
        retriever()

    def act(self, turn: Turn) -> list[EventType]:
        latest = turn.tracker.latest_message
        chosen = _entity(turn.tracker, "f")
        if (latest.get("intent") or {}).get("name") == "show_faq" and chosen:
            faq = library().faqs.get(str(chosen))
            if faq is not None:
                self.answer(turn, faq)
                return []
        text = str(latest.get("text") or "")
        if asks_for_number(text) and (country := country_asked_about(turn)):
            show_hotlines(turn, country)
            return []
        tuning = settings().assistant
        choice = choose(retriever().rank(text), tuning.faq_answer_confidence,
                        tuning.faq_suggest_confidence)
        faqs = library().faqs
        if choice.answer in faqs:
            self.answer(turn, faqs[choice.answer])
        elif options := [faqs[f] for f in choice.suggestions if f in faqs]:
            turn.send(turn.render.choose(turn._("Did you mean one of these?"), [
                Button(faq.question_and_answer(turn.locale, library().source_locale)[0],
                       payload("show_faq", f=faq.id)) for faq in options]))
        else:
            turn.send(turn.render.note(turn._(
                "I can help with staying safe: lessons, quizzes, questions about trafficking "
                "and who to call for help. I cannot help with other things, such as homework "
                "or games.")))
        return []

    @staticmethod
    def answer(turn: Turn, faq: models.Faq) -> None:
        question, answer = faq.question_and_answer(turn.locale, library().source_locale)
        turn.send(turn.render.faq(question, answer))


class ActionChooseCountry(SafeStepsAction):
    action_name = "action_choose_country"

    def act(self, turn: Turn) -> list[EventType]:
        wanted = _entity(turn.tracker, "country")
        if not wanted:
            turn.send(turn.render.choose_country(sorted(library().hotlines)))
            return []
        country = str(wanted).upper()
        show_hotlines(turn, country)
        tell_gateway(turn.dispatcher, context={"country": country})
        return [SlotSet("country", country)]


class ActionDanger(SafeStepsAction):
    """The assistant's danger intent: the same reply as the safety layer's."""

    action_name = "action_danger"

    def act(self, turn: Turn) -> list[EventType]:
        turn.send(safety().emergency_reply(turn.locale, turn.country))
        tell_gateway(turn.dispatcher, danger=True)
        return []


# Settings and privacy -------------------------------------------------------------------------


class ActionChooseLanguage(SafeStepsAction):
    action_name = "action_choose_language"

    def act(self, turn: Turn) -> list[EventType]:
        turn.send(turn.render.choose_language(library().locales))
        return []


class ActionSetLocale(SafeStepsAction):
    action_name = "action_set_locale"

    def act(self, turn: Turn) -> list[EventType]:
        locale = library().pick_locale(_entity(turn.tracker, "locale") or turn.locale)
        tell_gateway(turn.dispatcher, context={"locale": locale})
        turn.tracker.slots["locale"] = locale
        show_menu(turn)
        return [SlotSet("locale", locale)]


class ActionChooseAudience(SafeStepsAction):
    action_name = "action_choose_audience"

    def act(self, turn: Turn) -> list[EventType]:
        turn.send(turn.render.choose_audience())
        return []


class ActionSetAudience(SafeStepsAction):
    action_name = "action_set_audience"

    def act(self, turn: Turn) -> list[EventType]:
        audience = _entity(turn.tracker, "audience")
        if audience not in models.AUDIENCES:
            turn.send(turn.render.choose_audience())
            return []
        turn.tracker.slots["audience"] = audience
        pending = turn.tracker.get_slot("pending")
        turn.send(turn.render.note(turn._("Thank you. I will show content for %(who)s.",
                                          who=audience_label(audience, turn.render.translator))))
        if pending == "quizzes":
            turn.send(turn.render.quiz_list(library().quizzes_for(audience), audience))
        else:
            turn.send(turn.render.lesson_list(library().lessons_for(audience), audience))
        return [SlotSet("audience", audience), SlotSet("pending", None)]


class ActionForget(SafeStepsAction):
    action_name = "action_forget"

    def act(self, turn: Turn) -> list[EventType]:
        turn.send(turn.render.note(turn._(
            "Done: SafeSteps has deleted what it kept about this chat. Messages already on your "
            "device stay there until you delete them.")))
        tell_gateway(turn.dispatcher, forget=True)
        return [Restarted()]


class ActionHide(SafeStepsAction):
    """The quick exit: a neutral reply, the conversation reset, the gateway told to clear."""

    action_name = "action_hide"

    def act(self, turn: Turn) -> list[EventType]:
        tell_gateway(turn.dispatcher, hide=True)
        turn.send(turn.render.note(turn._("Cleared.")))
        return [Restarted()]
