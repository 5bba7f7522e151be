"""The classroom engine: live quizzes (join by code, timer, leaderboard) and homework.

Every front end drives the same engine: the host and join pages through the HTTP API, the
Telegram gateway in process. State that matters is written to the store at once (a restart of
`safesteps up` loses no answer); what the screens show is kept in memory and pushed to them as
snapshots. Options are numbered from 0 in the order the session shows them (shuffled or not);
the store keeps the pack's own numbers, so reports do not depend on the order shown.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import hmac
import io
import logging
import random
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from bot.classroom.nicknames import NicknameRefused, clean_nickname
from bot.classroom.store import AnswerRow, ClassroomStore, PlayerRow, SessionRow
from bot.content import models
from bot.content.library import ContentLibrary
from bot.i18n import Translator
from bot.render import Renderer
from bot.settings import ClassroomSettings

log = logging.getLogger("safesteps.classroom")

LOBBY, QUESTION, PAUSED, REVIEW, OPEN, ENDED = (
    "lobby", "question", "paused", "review", "open", "ended")
LATE_GRACE_SECONDS = 0.5  # an answer sent just before the bell may arrive just after it
MAX_POINTS, MIN_POINTS = 1000, 500
LEADERBOARD_SIZE = 5
ENDED_KEPT_SECONDS = 10 * 60  # an ended session stays in memory this long after its last use
IDLE_KEPT_SECONDS = 6 * 3600  # a session nobody watches or uses, in any state
LIVE_COUNTS_SECONDS = 24 * 3600  # a session unended for longer no longer counts as running


class ClassroomError(Exception):
    """A refused request: the HTTP status, a stable reason for the pages, a plain message."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


@dataclass
class Player:
    id: str
    nickname: str
    joined_at: float
    score: int = 0
    correct: int = 0
    answered: int = 0


@dataclass
class Session:
    """A session in memory: its stored row, the quiz, and what its screens show."""

    row: SessionRow
    quiz: models.Quiz
    players: dict[str, Player] = field(default_factory=dict)
    answers: dict[int, dict[str, AnswerRow]] = field(default_factory=dict)
    watchers: set[asyncio.Queue[bool]] = field(default_factory=set)
    host_watchers: set[asyncio.Queue[bool]] = field(default_factory=set)
    timer: asyncio.TimerHandle | None = None
    version: int = 0  # goes up with every change, so that views can share what they compute
    cached_ranks: tuple[int, dict[str, int]] = (-1, {})
    cached_view: tuple[int, dict[str, Any]] = (-1, {})
    owner: str = ""  # who created it (a hash of the teacher key or address), in memory only
    used_at: float = 0.0  # the last change or lookup, for leaving memory when idle

    @property
    def code(self) -> str:
        return self.row.code

    @property
    def total(self) -> int:
        return len(self.quiz.questions)

    def shown_order(self, index: int) -> list[int]:
        return self.row.option_orders[index]

    def leaderboard(self) -> list[Player]:
        return sorted(self.players.values(), key=lambda p: (-p.score, p.joined_at))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def option_count(question: models.Question) -> int:
    return 2 if question.type == "true-false" else len(question.options)


def points_for(correct: bool, elapsed: float, limit: float, live: bool) -> int:
    """Right answers score 500 to 1000 (faster is more) live, and 1000 in homework."""
    if not correct:
        return 0
    if not live or limit <= 0:
        return MAX_POINTS
    share = max(0.0, min(1.0, 1 - elapsed / limit))
    return MIN_POINTS + round((MAX_POINTS - MIN_POINTS) * share)


class Classroom:
    """Sessions by join code. All methods run on the event loop."""

    def __init__(self, settings: ClassroomSettings, library: ContentLibrary,
                 store: ClassroomStore, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.library = library
        self.store = store
        self.clock = clock
        self.sessions: dict[str, Session] = {}
        self.renderers: dict[str, Renderer] = {}
        self.listeners: list[Callable[[Session, str], None]] = []

    # Lookups

    def renderer(self, locale: str) -> Renderer:
        if locale not in self.renderers:
            self.renderers[locale] = Renderer(locale, self.library.source_locale)
        return self.renderers[locale]

    def quizzes(self, locale: str | None) -> list[dict[str, Any]]:
        render = self.renderer(self.library.pick_locale(locale))
        return [{"id": quiz.id, "title": render.text(quiz.title), "audience": quiz.audience,
                 "questions": len(quiz.questions)}
                for quiz in sorted(self.library.quizzes.values(),
                                   key=lambda q: (q.audience, q.id))]

    def get(self, code: str) -> Session:
        """The session with this code (read back from the store after a restart), or 404."""
        session = self.sessions.get(code)
        if session is not None:
            session.used_at = self.clock()
            self._settle(session)
            return session
        row = self.store.session(code) if code.isdigit() and len(code) <= 12 else None
        quiz = self.library.quizzes.get(row.quiz_id) if row else None
        if row is None or quiz is None:
            raise ClassroomError(404, "unknown_code",
                                 "no class quiz has this code: check the code on the screen")
        session = Session(row, quiz, used_at=self.clock())
        for player in self.store.players(code):
            session.players[player.id] = Player(player.id, player.nickname, player.joined_at)
        for answer in self.store.answers(code):
            self._count(session, answer)
        self.sessions[code] = session
        self._settle(session)
        if row.state == QUESTION:
            self._schedule(session)
        if row.mode == "homework" and row.state == OPEN:
            self._schedule_deadline(session)
        return session

    def authorize(self, session: Session, authorization: str | None) -> None:
        """Host actions need ``Authorization: Bearer <host_token>``: 401 without, 403 wrong."""
        if not authorization or not authorization.startswith("Bearer "):
            raise ClassroomError(401, "host_token_missing",
                                 "host actions need the header Authorization: Bearer <host_token>")
        given = hash_token(authorization[len("Bearer "):].strip())
        if not hmac.compare_digest(given, session.row.host_token_hash):
            raise ClassroomError(403, "host_token_wrong",
                                 "this host token does not belong to this class quiz")

    def player(self, session: Session, player_id: object) -> Player:
        player = session.players.get(player_id) if isinstance(player_id, str) else None
        if player is None:
            raise ClassroomError(404, "unknown_player",
                                 "this player has not joined this class quiz: join again")
        return player

    # Host actions

    def create(self, quiz_id: object, locale: object, seconds: object = None,
               shuffle: object = False, mode: object = "live", hours: object = None,
               origin: str = "web", owner: str = "") -> tuple[Session, str]:
        """A new session and its host token (shown once; only its hash is stored).
        ``owner`` (a hash of the teacher key or the address) may have at most
        ``max_live_sessions_per_key`` sessions running."""
        quiz = self.library.quizzes.get(quiz_id) if isinstance(quiz_id, str) else None
        if quiz is None:
            raise ClassroomError(400, "unknown_quiz",
                                 '"quiz" must be the id of a quiz from GET /api/quizzes')
        if locale is not None and not isinstance(locale, str):
            raise ClassroomError(400, "bad_request", '"locale" must be a language tag')
        if mode not in ("live", "homework"):
            raise ClassroomError(400, "bad_request", '"mode" is live or homework')
        limit = self._whole_number(seconds, "seconds_per_question",
                                   self.settings.seconds_per_question, 5, 300)
        hours_open = self._whole_number(hours, "hours", self.settings.homework_hours, 1, 24 * 60)
        if not isinstance(shuffle, bool):
            raise ClassroomError(400, "bad_request", '"shuffle" is true or false')
        now = self.clock()
        self.forget_idle()
        if owner and self.running(owner) >= self.settings.max_live_sessions_per_key:
            raise ClassroomError(
                429, "too_many_sessions",
                f"{self.settings.max_live_sessions_per_key} class quizzes are already running "
                "for this teacher: end one before starting another")
        token = secrets.token_urlsafe(24)
        orders = []
        for question in quiz.questions:
            order = list(range(option_count(question)))
            if shuffle and question.type != "true-false":
                random.SystemRandom().shuffle(order)
            orders.append(order)
        homework = mode == "homework"
        row = SessionRow(
            code=self._new_code(), quiz_id=quiz.id, locale=self.library.pick_locale(locale),
            mode=str(mode), host_token_hash=hash_token(token), seconds_per_question=limit,
            shuffle=shuffle, option_orders=orders, state=OPEN if homework else LOBBY,
            question_index=-1, question_opened_at=None,
            deadline=now + hours_open * 3600 if homework else None, paused_remaining=None,
            origin=origin, created_at=now, ended_at=None)
        self.store.add_session(row)
        session = Session(row, quiz, owner=owner, used_at=now)
        self.sessions[row.code] = session
        if homework:
            self._schedule_deadline(session)
        log.info("classroom: a %s session of %d questions was created", mode, session.total)
        return session, token

    def running(self, owner: str) -> int:
        """How many sessions ``owner`` has that have not ended (started within a day)."""
        since = self.clock() - LIVE_COUNTS_SECONDS
        return sum(1 for s in self.sessions.values()
                   if s.owner == owner and s.row.state != ENDED and s.row.created_at >= since)

    def forget_idle(self) -> int:
        """Let sessions nobody watches leave memory: ended ones after a few minutes, any
        other after hours without use (the store keeps them; ``get`` reads them back)."""
        now = self.clock()
        gone = [code for code, s in self.sessions.items()
                if not s.watchers and not s.host_watchers and s.timer is None
                and now - s.used_at > (ENDED_KEPT_SECONDS if s.row.state == ENDED
                                       else IDLE_KEPT_SECONDS)]
        for code in gone:
            del self.sessions[code]
        return len(gone)

    @staticmethod
    def _whole_number(value: object, name: str, default: int, low: int, high: int) -> int:
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ClassroomError(400, "bad_request",
                                 f'"{name}" must be a whole number from {low} to {high}')
        return value

    def _new_code(self) -> str:
        digits = self.settings.code_digits
        while True:
            code = str(secrets.randbelow(9 * 10 ** (digits - 1)) + 10 ** (digits - 1))
            if code not in self.sessions and not self.store.code_in_use(code):
                return code

    def next(self, session: Session) -> dict[str, Any]:
        """Open the next question (closing the current one); after the last, end the quiz."""
        row = self._live(session)
        if row.state == PAUSED:
            raise ClassroomError(409, "paused", "the quiz is paused: resume it first")
        if row.state == QUESTION:
            self._close(session)
        if row.question_index + 1 >= session.total:
            self.end(session)
            return {"question_index": None, "state": ENDED}
        now = self.clock()
        row.question_index += 1
        row.state = QUESTION
        row.question_opened_at = now
        row.deadline = now + row.seconds_per_question
        row.paused_remaining = None
        self.store.save_state(row)
        session.answers.setdefault(row.question_index, {})
        self._schedule(session)
        self._changed(session, "question")
        return {"question_index": row.question_index, "state": QUESTION,
                "question": self.question_view(session, row.question_index),
                "seconds": row.seconds_per_question}

    def close(self, session: Session) -> None:
        """Show the answer now (before the timer runs out)."""
        if self._live(session).state not in (QUESTION, PAUSED):
            raise ClassroomError(409, "not_open", "no question is open")
        self._close(session)

    def pause(self, session: Session) -> None:
        row = self._live(session)
        if row.state != QUESTION:
            raise ClassroomError(409, "not_open", "only an open question can be paused")
        row.paused_remaining = max(0.0, (row.deadline or 0) - self.clock())
        row.state = PAUSED
        self._cancel_timer(session)
        self.store.save_state(row)
        self._changed(session, "paused")

    def resume(self, session: Session) -> None:
        row = self._live(session)
        if row.state != PAUSED:
            raise ClassroomError(409, "not_paused", "the quiz is not paused")
        row.deadline = self.clock() + (row.paused_remaining or 0)
        row.paused_remaining = None
        row.state = QUESTION
        self.store.save_state(row)
        self._schedule(session)
        self._changed(session, "question")

    def end(self, session: Session) -> None:
        row = session.row
        if row.state == ENDED:
            return
        if row.state in (QUESTION, PAUSED):
            self._close(session, quiet=True)
        row.state = ENDED
        row.ended_at = self.clock()
        row.deadline = None if row.mode == "live" else row.deadline
        self._cancel_timer(session)
        self.store.save_state(row)
        self._changed(session, "ended")

    def delete(self, session: Session) -> None:
        """Delete the session with its players and answers; its screens are told it is gone."""
        self._cancel_timer(session)
        self.store.delete_session(session.code)
        self.sessions.pop(session.code, None)
        session.row.state = ENDED
        self._wake(session.watchers | session.host_watchers, closing=True)

    def _live(self, session: Session) -> SessionRow:
        row = session.row
        if row.state == ENDED:
            raise ClassroomError(410, "ended", "this class quiz has ended")
        if row.mode != "live":
            raise ClassroomError(409, "homework", "homework has no live questions to move on")
        return row

    def _close(self, session: Session, quiet: bool = False) -> None:
        row = session.row
        self._cancel_timer(session)
        row.state = REVIEW
        row.deadline = None
        row.paused_remaining = None
        self.store.save_state(row)
        if not quiet:
            self._changed(session, "review")

    # Timers

    def _schedule(self, session: Session) -> None:
        self._cancel_timer(session)
        row = session.row
        delay = max(0.0, (row.deadline or 0) - self.clock())
        index = row.question_index
        session.timer = asyncio.get_running_loop().call_later(
            delay + LATE_GRACE_SECONDS, self._time_up, session, index)

    def _schedule_deadline(self, session: Session) -> None:
        self._cancel_timer(session)
        delay = max(0.0, (session.row.deadline or 0) - self.clock())
        session.timer = asyncio.get_running_loop().call_later(
            min(delay, 7 * 24 * 3600), self._homework_due, session)

    def _time_up(self, session: Session, index: int) -> None:
        session.timer = None
        row = session.row
        if row.state == QUESTION and row.question_index == index:
            self._close(session)

    def _homework_due(self, session: Session) -> None:
        session.timer = None
        if session.row.state == OPEN:
            if self.clock() >= (session.row.deadline or 0):
                self.end(session)
            else:
                self._schedule_deadline(session)

    def _settle(self, session: Session) -> None:
        """Close a question whose time is up even if its timer has not fired yet."""
        row = session.row
        if row.state == QUESTION and self.clock() > (row.deadline or 0) + LATE_GRACE_SECONDS:
            self._close(session)

    @staticmethod
    def _cancel_timer(session: Session) -> None:
        if session.timer is not None:
            session.timer.cancel()
            session.timer = None

    # Pupils

    def _check_deadline(self, session: Session) -> None:
        """Homework past its deadline ends (even if its timer has not fired yet)."""
        row = session.row
        if row.mode == "homework" and row.state == OPEN and self.clock() > (row.deadline or 0):
            self.end(session)
        if row.state == ENDED:
            raise ClassroomError(410, "ended", "this class quiz has ended")

    def join(self, session: Session, nickname: object) -> Player:
        row = session.row
        if row.mode == "homework":
            self._check_deadline(session)
        if row.state == ENDED:
            raise ClassroomError(410, "ended", "this class quiz has ended: it cannot be joined")
        if not isinstance(nickname, str):
            raise ClassroomError(400, "nickname_empty", '"nickname" is required')
        try:
            name = clean_nickname(nickname)
        except NicknameRefused as err:
            raise ClassroomError(400, err.reason, err.message) from None
        if len(session.players) >= self.settings.max_players:
            raise ClassroomError(409, "full", "this class quiz is full")
        player = Player(secrets.token_urlsafe(16), name, self.clock())
        if not self.store.add_player(row.code, PlayerRow(player.id, name, player.joined_at)):
            raise ClassroomError(409, "nickname_taken",
                                 "someone in this class already has this nickname: pick another")
        session.players[player.id] = player
        self._changed(session, "joined", pupils=False)
        return player

    def answer(self, session: Session, player_id: object, question_index: object,
               option: object) -> dict[str, Any]:
        """Count a pupil's answer once; a repeat gets the first answer's result back."""
        row = session.row
        player = self.player(session, player_id)
        if isinstance(question_index, bool) or not isinstance(question_index, int):
            raise ClassroomError(400, "bad_request", '"question_index" must be a whole number')
        if not 0 <= question_index < session.total:
            raise ClassroomError(400, "bad_request",
                                 f'"question_index" is from 0 to {session.total - 1}')
        earlier = session.answers.get(question_index, {}).get(player.id)
        if earlier is not None:
            return {**self._answer_result(session, question_index, earlier), "counted": False}
        now = self.clock()
        if row.state == ENDED:
            raise ClassroomError(410, "ended", "this class quiz has ended")
        if row.mode == "homework":
            self._check_deadline(session)
            expected = self._next_for(session, player)
            if question_index != expected:
                raise ClassroomError(409, "out_of_turn",
                                     f"answer question {expected} first (counting from 0)")
            elapsed, limit = 0.0, 0.0
        else:
            if row.question_index != question_index or row.state not in (QUESTION, PAUSED,
                                                                          REVIEW):
                raise ClassroomError(409, "out_of_turn",
                                     f"question {question_index} is not open; the class is on "
                                     f"question {row.question_index}")
            if row.state == PAUSED:
                raise ClassroomError(409, "paused", "the quiz is paused: wait for the teacher")
            if row.state == REVIEW or now > (row.deadline or 0) + LATE_GRACE_SECONDS:
                raise ClassroomError(409, "late", "time is up for this question")
            elapsed = now - (row.question_opened_at or now)
            limit = float(row.seconds_per_question)
        question = session.quiz.questions[question_index]
        chosen = self._chosen(session, question_index, option)
        correct = sorted(chosen) == sorted(question.correct_options())
        answer = AnswerRow(player.id, question_index, tuple(sorted(chosen)), correct,
                           points_for(correct, elapsed, limit, row.mode == "live"),
                           round(elapsed * 1000))
        if not self.store.add_answer(row.code, answer, now):
            stored = next(a for a in self.store.answers(row.code)
                          if a.player_id == player.id and a.question_index == question_index)
            return {**self._answer_result(session, question_index, stored), "counted": False}
        self._count(session, answer)
        if row.mode == "live" and len(session.answers[question_index]) >= len(session.players):
            self._close(session)  # everyone has answered: no need to wait for the bell
        else:
            self._changed(session, "answered", pupils=False)
        return {**self._answer_result(session, question_index, answer), "counted": True}

    def _chosen(self, session: Session, index: int, option: object) -> list[int]:
        """The pack's option numbers for what the pupil chose (shown numbers, from 0)."""
        question = session.quiz.questions[index]
        order = session.shown_order(index)
        picked: list[object] = option if isinstance(option, list) else [option]
        numbers = [p for p in picked if isinstance(p, int) and not isinstance(p, bool)]
        if (not numbers or len(numbers) != len(picked) or len(set(numbers)) != len(numbers)
                or any(not 0 <= p < len(order) for p in numbers)
                or (question.type != "multiple" and len(numbers) != 1)):
            raise ClassroomError(400, "bad_option",
                                 f'"option" is the number of an option from 0 to '
                                 f'{len(order) - 1}' + (", or a list of them"
                                                        if question.type == "multiple" else ""))
        return [order[p] for p in numbers]

    def _count(self, session: Session, answer: AnswerRow) -> None:
        session.version += 1
        session.answers.setdefault(answer.question_index, {})[answer.player_id] = answer
        player = session.players.get(answer.player_id)
        if player is not None:
            player.answered += 1
            player.correct += int(answer.correct)
            player.score += answer.points

    def _answer_result(self, session: Session, index: int, answer: AnswerRow
                       ) -> dict[str, Any]:
        """Live: only that it was received (the answer shows when the question closes);
        homework: right or wrong at once, with the explanation."""
        result: dict[str, Any] = {"question_index": index}
        if session.row.mode == "homework":
            result.update(self._reveal(session, index))
            result["correct"] = answer.correct
            result["points"] = answer.points
        return result

    def _next_for(self, session: Session, player: Player) -> int:
        for index in range(session.total):
            if player.id not in session.answers.get(index, {}):
                return index
        return session.total

    def homework_question(self, session: Session, player: Player) -> dict[str, Any]:
        """A homework pupil's next question, or that they have finished."""
        if session.row.mode != "homework":
            raise ClassroomError(409, "live", "this is a live quiz: questions come from the "
                                 "teacher's screen")
        index = self._next_for(session, player)
        if index < session.total:
            self._check_deadline(session)
        if index >= session.total:
            return {"finished": True, "score": player.score, "correct": player.correct,
                    "total": session.total}
        if session.row.state == ENDED:
            raise ClassroomError(410, "ended", "the deadline for this homework has passed")
        return {"finished": False, "question_index": index, "total": session.total,
                "question": self.question_view(session, index)}

    # Views

    def question_view(self, session: Session, index: int) -> dict[str, Any]:
        question = session.quiz.questions[index]
        render = self.renderer(session.row.locale)
        labels = render.option_texts(question)
        return {"text": render.text(question.question),
                "options": [labels[n] for n in session.shown_order(index)],
                "type": question.type}

    def _reveal(self, session: Session, index: int) -> dict[str, Any]:
        question = session.quiz.questions[index]
        order = session.shown_order(index)
        return {"correct_options": sorted(order.index(n) for n in question.correct_options()),
                "explanation": self.renderer(session.row.locale).text(question.explanation)}

    def distribution(self, session: Session, index: int) -> list[int]:
        order = session.shown_order(index)
        counts = [0] * len(order)
        for answer in session.answers.get(index, {}).values():
            for n in answer.options:
                counts[order.index(n)] += 1
        return counts

    def seconds_left(self, session: Session) -> float | None:
        row = session.row
        if row.state == PAUSED:
            return round(row.paused_remaining or 0, 1)
        if row.state == QUESTION:
            return round(max(0.0, (row.deadline or 0) - self.clock()), 1)
        return None

    def _common_view(self, session: Session) -> dict[str, Any]:
        """What every screen of the session shows (a fresh copy; built once per change)."""
        version, view = session.cached_view
        if version != session.version:
            view = self._build_common_view(session)
            session.cached_view = (session.version, view)
        view = dict(view)
        if "seconds_left" in view:  # the countdown runs between changes: read it now
            view["seconds_left"] = self.seconds_left(session)
        return view

    def _build_common_view(self, session: Session) -> dict[str, Any]:
        row = session.row
        view: dict[str, Any] = {
            "code": row.code, "state": row.state, "mode": row.mode,
            "title": self.renderer(row.locale).text(session.quiz.title),
            "locale": row.locale, "total": session.total,
            "question_index": row.question_index if row.question_index >= 0 else None,
            "players": len(session.players),
        }
        if row.mode == "homework" and row.deadline:
            view["deadline"] = round(row.deadline)
        if row.state in (QUESTION, PAUSED, REVIEW):
            view["question"] = self.question_view(session, row.question_index)
            view["seconds_left"] = self.seconds_left(session)
        if row.state == REVIEW:
            view.update(self._reveal(session, row.question_index))
        if row.state in (REVIEW, ENDED):
            view["leaderboard"] = [{"nickname": p.nickname, "score": p.score}
                                   for p in session.leaderboard()[:LEADERBOARD_SIZE]]
        return view

    def host_view(self, session: Session) -> dict[str, Any]:
        """What the projector shows: the pupil view plus who joined, live counts, answers."""
        view = self._common_view(session)
        row = session.row
        if row.state in (LOBBY, OPEN) or len(session.players) <= 60:
            view["nicknames"] = [p.nickname for p in session.players.values()]
        if row.state in (QUESTION, PAUSED, REVIEW):
            view["answered"] = len(session.answers.get(row.question_index, {}))
            view["distribution"] = self.distribution(session, row.question_index)
        if row.state == ENDED or row.mode == "homework":
            view["summary"] = self.question_summary(session)
        return view

    def pupil_view(self, session: Session, player: Player | None,
                   ranks: dict[str, int] | None = None) -> dict[str, Any]:
        view = self._common_view(session)
        row = session.row
        if player is not None:
            you: dict[str, Any] = {"nickname": player.nickname, "score": player.score,
                                   "correct": player.correct}
            if ranks is not None:
                you["rank"] = ranks.get(player.id)
            if row.question_index >= 0:
                answer = session.answers.get(row.question_index, {}).get(player.id)
                you["answered"] = answer is not None
                if answer is not None and row.state == REVIEW:
                    you["right"] = answer.correct
                    you["points"] = answer.points
                    order = session.shown_order(row.question_index)
                    you["chose"] = sorted(order.index(n) for n in answer.options)
            view["you"] = you
        return view

    def ranks(self, session: Session) -> dict[str, int]:
        """Each player's place, computed once per change (500 screens ask after each)."""
        version, ranks = session.cached_ranks
        if version != session.version:
            ranks = {p.id: n for n, p in enumerate(session.leaderboard(), start=1)}
            session.cached_ranks = (session.version, ranks)
        return ranks

    # Reports

    def question_summary(self, session: Session) -> list[dict[str, Any]]:
        render = self.renderer(session.row.locale)
        out = []
        for index, question in enumerate(session.quiz.questions):
            answers = session.answers.get(index, {}).values()
            right = sum(a.correct for a in answers)
            count = len(session.answers.get(index, {}))
            out.append({"index": index, "text": render.text(question.question),
                        "answers": count, "correct": right,
                        "correct_rate": round(right / count, 3) if count else None})
        return out

    def results(self, session: Session) -> dict[str, Any]:
        row = session.row
        questions = self.question_summary(session)
        asked = [q for q in questions if q["answers"]]
        hardest = sorted(asked, key=lambda q: (q["correct_rate"], q["index"]))[:3]
        return {
            "code": row.code, "quiz": session.quiz.id,
            "title": self.renderer(row.locale).text(session.quiz.title),
            "locale": row.locale, "mode": row.mode, "state": row.state,
            "created_at": round(row.created_at), "ended_at": round(row.ended_at)
            if row.ended_at else None,
            "players": [{"nickname": p.nickname, "score": p.score, "correct": p.correct,
                         "answered": p.answered, "rank": rank}
                        for rank, p in enumerate(session.leaderboard(), start=1)],
            "questions": questions,
            "hardest": [q["index"] for q in hardest],
        }

    def report_csv(self, session: Session) -> str:
        """Per-pupil scores and answers, then each question's correct rate (for spreadsheets)."""
        _ = Translator(session.row.locale).gettext
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        numbers = [f"Q{n}" for n in range(1, session.total + 1)]
        writer.writerow([_("Rank"), _("Nickname"), _("Score"), _("Right answers"),
                         _("Answered"), *numbers])
        for rank, player in enumerate(session.leaderboard(), start=1):
            marks = []
            for index in range(session.total):
                answer = session.answers.get(index, {}).get(player.id)
                marks.append("" if answer is None else (_("right") if answer.correct
                                                         else _("wrong")))
            writer.writerow([rank, player.nickname, player.score, player.correct,
                             player.answered, *marks])
        writer.writerow([])
        writer.writerow(["", _("Correct rate"), "", "", "",
                         *(f"{round(q['correct_rate'] * 100)}%" if q["correct_rate"] is not None
                           else "" for q in self.question_summary(session))])
        return buffer.getvalue()

    # Screens

    def watch(self, session: Session, host: bool) -> asyncio.Queue[bool]:
        """A queue that gets True when the session changed (False: it is gone)."""
        queue: asyncio.Queue[bool] = asyncio.Queue(maxsize=1)
        (session.host_watchers if host else session.watchers).add(queue)
        return queue

    def unwatch(self, session: Session, queue: asyncio.Queue[bool]) -> None:
        session.watchers.discard(queue)
        session.host_watchers.discard(queue)

    def _changed(self, session: Session, event: str, pupils: bool = True) -> None:
        session.version += 1
        session.used_at = self.clock()
        self._wake(session.host_watchers | (session.watchers if pupils else set()))
        for listener in self.listeners:
            listener(session, event)

    @staticmethod
    def _wake(queues: Iterable[asyncio.Queue[bool]], closing: bool = False) -> None:
        for queue in queues:
            if closing:
                while not queue.empty():
                    queue.get_nowait()
            if not queue.full():
                queue.put_nowait(not closing)

    def close_streams(self) -> None:
        """Tell every open screen to finish (the server is stopping)."""
        for session in self.sessions.values():
            self._wake(session.watchers | session.host_watchers, closing=True)

    def purge(self) -> int:
        """Delete sessions older than the retention period (with their players and answers)."""
        deleted = self.store.purge(self.settings.retention_days, self.clock())
        cutoff = self.clock() - self.settings.retention_days * 24 * 3600
        for code, session in list(self.sessions.items()):
            if session.row.created_at < cutoff:
                self._cancel_timer(session)
                self.sessions.pop(code, None)
        return deleted
