"""Class quizzes in Telegram groups: `/classquiz <quiz>` by the teacher.

Pupils join through a button that opens a private chat with the bot, and answer there, so
classmates do not see their answers. The group gets one message per question and the
leaderboard at the end (well inside Telegram's 20 messages a minute per group); only the
teacher who started the quiz can move it on. Pupils get a made-up nickname (an animal), so no
name or Telegram profile reaches the class's screen or the store.

The sessions are the classroom engine's, like those of the /host page; what the gateway needs
to reach the group and the pupils (chat ids) is kept in memory only.
"""

from __future__ import annotations

import asyncio
import html
import random
import re
from collections.abc import Coroutine
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)

from bot.classroom.engine import ENDED, Classroom, ClassroomError, Session

if TYPE_CHECKING:
    from bot.telegram.gateway import Gateway

JOIN_LINK = re.compile(r"^c_(?P<code>[0-9]{4,9})$")
CALLBACK = re.compile(r"^cq:(?P<action>[nsxeatdr]):(?P<arg>[a-z0-9-]{1,40})"
                      r"(?::(?P<index>\d{1,3}):(?P<option>\d{1,2}))?$")
GROUPS = {ChatType.GROUP, ChatType.SUPERGROUP}


def _(message: str) -> str:
    """Marks an interface string for extraction; translated per class with the catalogs."""
    return message


ANIMALS = (
    ("🐼", _("Panda")), ("🐯", _("Tiger")), ("🐬", _("Dolphin")), ("🦉", _("Owl")),
    ("🦊", _("Fox")), ("🐰", _("Rabbit")), ("🐘", _("Elephant")), ("🐨", _("Koala")),
    ("🐧", _("Penguin")), ("🦁", _("Lion")), ("🐢", _("Turtle")), ("🦌", _("Deer")),
    ("🦅", _("Eagle")), ("🐳", _("Whale")), ("🦦", _("Otter")), ("🦜", _("Parrot")),
    ("🐻", _("Bear")), ("🐱", _("Cat")), ("🐴", _("Horse")), ("🦢", _("Swan")),
)
REMEMBERED_CLASSES = 2_000
MEDALS = ("🥇", "🥈", "🥉", "4.", "5.")


@dataclass
class TelegramClass:
    """What the gateway keeps about one class quiz in a group (in memory)."""

    code: str
    group: int
    teacher: int
    locale: str
    pupils: dict[str, int] = field(default_factory=dict)      # player id -> private chat
    by_user: dict[int, str] = field(default_factory=dict)     # Telegram user -> player id
    asked: dict[int, int] = field(default_factory=dict)       # private chat -> message id
    picks: dict[int, set[int]] = field(default_factory=dict)  # multiple answers being chosen
    announced: int = -1
    last_rate: str = ""


class TelegramClassroom:
    """Turns the engine's events into Telegram messages, and Telegram presses into answers."""

    def __init__(self, gateway: Gateway, classroom: Classroom) -> None:
        self.gateway = gateway
        self.classroom = classroom
        self.classes: dict[str, TelegramClass] = {}
        self.by_group: dict[int, str] = {}
        self.choosing: dict[int, int] = {}  # group -> the teacher choosing a quiz
        self.tasks: set[asyncio.Future[None]] = set()
        classroom.listeners.append(self._on_event)

    def t(self, locale: str, message: str, **values: object) -> str:
        text = self.gateway.gettext(locale, message)
        return text % values if values else text

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _send(self, chat_id: int, text: str,
                    markup: InlineKeyboardMarkup | None = None) -> Any:
        return await self.gateway.send_text(chat_id, text, markup)

    # The teacher, in the group ------------------------------------------------------------------

    async def command(self, message: Message, command: CommandObject) -> None:
        assert message.from_user is not None
        teacher = message.from_user
        locale = self.gateway.service.library.pick_locale(teacher.language_code)
        group = message.chat.id
        running = self.by_group.get(group)
        if running is not None and self.classroom.sessions.get(running) is not None \
                and self.classroom.sessions[running].row.state != ENDED:
            await self._send(group, self.t(locale, _(
                "A class quiz is already running here. The teacher can end it first.")))
            return
        quiz_id = (command.args or "").strip().lower()
        if not quiz_id:
            self.choosing[group] = teacher.id
            await self._send(group, self.t(locale, _(
                "Which quiz will the class play? Only the person who asked can choose.")),
                self._quiz_buttons(locale))
            return
        await self.open(group, teacher.id, locale, quiz_id)

    def _quiz_buttons(self, locale: str) -> InlineKeyboardMarkup:
        rows = [[InlineKeyboardButton(text=q["title"][:60], callback_data=f"cq:n:{q['id']}")]
                for q in self.classroom.quizzes(locale)]
        return InlineKeyboardMarkup(inline_keyboard=rows)

    async def open(self, group: int, teacher: int, locale: str, quiz_id: str) -> None:
        try:
            session, _token = self.classroom.create(
                quiz_id, locale,
                self.classroom.settings.telegram_seconds_per_question, origin="telegram")
        except ClassroomError:
            await self._send(group, self.t(locale, _(
                "There is no quiz with that name. Send /classquiz to choose from the list.")))
            return
        self.choosing.pop(group, None)
        while len(self.classes) >= REMEMBERED_CLASSES:  # the oldest go (their reports too)
            oldest = next(iter(self.classes))
            group_of_oldest = self.classes.pop(oldest).group
            if self.by_group.get(group_of_oldest) == oldest:
                del self.by_group[group_of_oldest]
        self.classes[session.code] = TelegramClass(session.code, group, teacher,
                                                   session.row.locale)
        self.by_group[group] = session.code
        title = self.classroom.renderer(session.row.locale).text(session.quiz.title)
        text = self.t(session.row.locale, _(
            "<b>Class quiz: %(title)s</b>\n%(count)s questions, %(seconds)s seconds each.\n\n"
            "Press Join: you answer in a private chat with SafeSteps, so nobody else sees your "
            "answers. The teacher presses Start when everyone has joined."),
            title=html.escape(title), count=session.total,
            seconds=session.row.seconds_per_question)
        await self._send(group, text, self._teacher_buttons(session, join=True))

    def _teacher_buttons(self, session: Session, join: bool = False) -> InlineKeyboardMarkup:
        locale = session.row.locale
        rows = []
        if join:
            rows.append([InlineKeyboardButton(
                text=self.t(locale, _("Join")),
                url=self.gateway.private_link(f"c_{session.code}"))])
        started = session.row.question_index >= 0
        rows.append([
            InlineKeyboardButton(text=self.t(locale, _("Next question") if started
                                             else _("Start")),
                                 callback_data=f"cq:x:{session.code}"),
            InlineKeyboardButton(text=self.t(locale, _("End the quiz")),
                                 callback_data=f"cq:e:{session.code}")])
        return InlineKeyboardMarkup(inline_keyboard=rows)

    # Pupils, in their private chats ------------------------------------------------------------

    async def join(self, message: Message, code: str) -> None:
        assert message.from_user is not None
        chat, user = message.chat.id, message.from_user.id
        locale = self.gateway.service.library.pick_locale(message.from_user.language_code)
        known = self.classes.get(code)
        try:
            session = self.classroom.get(code)
            if known is None:
                raise ClassroomError(404, "unknown_code", "not a Telegram class quiz")
        except ClassroomError:
            await self._send(chat, self.t(locale, _(
                "This class quiz is not running any more. Ask your teacher for a new one.")))
            return
        locale = known.locale
        title = self.classroom.renderer(locale).text(session.quiz.title)
        player_id = known.by_user.get(user)
        if player_id is None:
            try:
                player = self.classroom.join(session, self._nickname(session))
            except ClassroomError as err:
                text = (_("This class quiz has ended.") if err.reason == "ended" else
                        _("This class quiz is full."))
                await self._send(chat, self.t(locale, text))
                return
            known.by_user[user], known.pupils[player.id] = player.id, chat
            player_id = player.id
        nickname = session.players[player_id].nickname
        await self._send(chat, self.t(locale, _(
            "You are in “%(title)s” as <b>%(nickname)s</b>. The questions come here, and only "
            "you see your answers."), title=html.escape(title), nickname=html.escape(nickname)))
        row = session.row
        if row.state == "question" and player_id not in session.answers.get(
                row.question_index, {}):
            await self._ask(known, session, chat)

    def _nickname(self, session: Session) -> str:
        taken = {p.nickname.lower() for p in session.players.values()}
        animals = list(ANIMALS)
        random.shuffle(animals)
        for number in range(1, 100):
            for emoji, name in animals:
                nickname = f"{emoji} {self.t(session.row.locale, name)}"
                nickname += f" {number}" if number > 1 else ""
                if nickname.lower() not in taken:
                    return nickname
        raise ClassroomError(409, "full", "no nickname left")

    async def _ask(self, known: TelegramClass, session: Session, chat: int) -> None:
        index = session.row.question_index
        question = self.classroom.question_view(session, index)
        lines = [f"<b>{index + 1}/{session.total}</b> · {html.escape(question['text'])}", ""]
        if question["type"] != "true-false":
            lines += [f"{chr(65 + n)}. {html.escape(text)}"
                      for n, text in enumerate(question["options"])]
        if question["type"] == "multiple":
            lines += ["", self.t(known.locale, _("Choose every right answer, then send."))]
        sent = await self._send(chat, "\n".join(lines),
                                self._answer_buttons(known, session, index, set()))
        if isinstance(sent, Message):
            known.asked[chat] = sent.message_id
        known.picks.pop(chat, None)

    def _answer_buttons(self, known: TelegramClass, session: Session, index: int,
                        picked: set[int]) -> InlineKeyboardMarkup:
        question = self.classroom.question_view(session, index)
        code = session.code
        if question["type"] == "multiple":
            keys = [InlineKeyboardButton(text=("☑ " if n in picked else "☐ ") + chr(65 + n),
                                         callback_data=f"cq:t:{code}:{index}:{n}")
                    for n in range(len(question["options"]))]
            send = InlineKeyboardButton(text=self.t(known.locale, _("Send my answer")),
                                        callback_data=f"cq:d:{code}:{index}:0")
            return InlineKeyboardMarkup(inline_keyboard=[keys[i:i + 4]
                                                         for i in range(0, len(keys), 4)]
                                        + [[send]])
        labels = (question["options"] if question["type"] == "true-false"
                  else [chr(65 + n) for n in range(len(question["options"]))])
        return InlineKeyboardMarkup(inline_keyboard=[[
            InlineKeyboardButton(text=label, callback_data=f"cq:a:{code}:{index}:{n}")
            for n, label in enumerate(labels)]])

    # Presses ------------------------------------------------------------------------------------

    async def pressed(self, query: CallbackQuery) -> None:
        match = CALLBACK.match(query.data or "")
        user = query.from_user.id
        locale = self.gateway.service.library.pick_locale(query.from_user.language_code)
        note: str | None = None
        try:
            if match is None:
                note = self.t(locale, _("This button has expired."))
            elif match["action"] == "n":
                note = await self._choose(query, match["arg"], locale)
            elif match["action"] in "sxe":
                note = await self._control(user, match["action"], match["arg"], locale)
            elif match["action"] == "r":
                note = await self._report(user, match["arg"], locale)
            else:
                note = await self._answer(query, match, locale)
        finally:
            await self.gateway.outbox.send(
                query.message.chat.id if query.message else user,
                lambda: query.answer(note), urgent=True, counted=False)

    async def _choose(self, query: CallbackQuery, quiz_id: str, locale: str) -> str | None:
        group = query.message.chat.id if query.message else 0
        if self.choosing.get(group) != query.from_user.id:
            return self.t(locale, _("Only the person who asked can choose the quiz."))
        await self.open(group, query.from_user.id, locale, quiz_id)
        return None

    async def _control(self, user: int, action: str, code: str, locale: str) -> str | None:
        known = self.classes.get(code)
        if known is None:
            return self.t(locale, _("This button has expired."))
        if user != known.teacher:
            return self.t(known.locale, _("Only the teacher who started the quiz can do this."))
        try:
            session = self.classroom.get(code)
            if action == "e":
                self.classroom.end(session)
            else:
                self.classroom.next(session)
        except ClassroomError:
            return self.t(known.locale, _("This class quiz has ended."))
        return None

    async def _report(self, user: int, code: str, locale: str) -> str | None:
        """The teacher's report (CSV), sent to their private chat with the bot."""
        known = self.classes.get(code)
        try:
            session = self.classroom.get(code) if known is not None else None
        except ClassroomError:
            session = None  # deleted
        if known is None or session is None:
            return self.t(locale, _("This button has expired."))
        if user != known.teacher:
            return self.t(known.locale, _("Only the teacher who started the quiz can do this."))
        report = ("\ufeff" + self.classroom.report_csv(session)).encode("utf-8")
        caption = self.t(known.locale, _("Report of the class quiz: each pupil's score and "
                                         "answers, and each question's correct rate."))
        sent = await self.gateway.outbox.send(user, partial(
            self.gateway.bot.send_document, user,
            BufferedInputFile(report, filename=f"safesteps-{session.quiz.id}-{code}.csv"),
            caption=caption))
        if sent is None:  # Telegram refuses until the teacher has started a private chat
            return self.t(known.locale, _("Open a private chat with SafeSteps and press Start "
                                          "there, then press this button again."))
        return self.t(known.locale, _("The report is in your private chat with SafeSteps."))

    async def _answer(self, query: CallbackQuery, match: re.Match[str], locale: str
                      ) -> str | None:
        code, user = match["arg"], query.from_user.id
        known = self.classes.get(code)
        player_id = known.by_user.get(user) if known else None
        if known is None or player_id is None or match["index"] is None:
            return self.t(locale, _("This button has expired."))
        index, option = int(match["index"]), int(match["option"])
        chat = known.pupils[player_id]
        try:
            session = self.classroom.get(code)
            if match["action"] == "t":
                picked = known.picks.setdefault(chat, set())
                picked.symmetric_difference_update({option})
                await self._edit_buttons(chat, query, self._answer_buttons(
                    known, session, index, picked))
                return None
            chosen: int | list[int] = option
            if match["action"] == "d":
                chosen = sorted(known.picks.get(chat, set()))
                if not chosen:
                    return self.t(known.locale, _("Choose every right answer, then send."))
            result = self.classroom.answer(session, player_id, index, chosen)
        except ClassroomError as err:
            return self.t(known.locale, _("Time is up for this question.")
                          if err.reason in ("late", "out_of_turn") else
                          _("This class quiz has ended."))
        if not result["counted"]:
            return self.t(known.locale, _("You have already answered this question."))
        await self._edit_buttons(chat, query, None)
        return self.t(known.locale, _("Answer sent. Wait for the others …"))

    async def _edit_buttons(self, chat: int, query: CallbackQuery,
                            markup: InlineKeyboardMarkup | None) -> None:
        if query.message is None:
            return
        message_id = query.message.message_id
        await self.gateway.outbox.send(chat, partial(
            self.gateway.bot.edit_message_reply_markup, chat_id=chat, message_id=message_id,
            reply_markup=markup), counted=False)

    # Events from the engine -------------------------------------------------------------------

    def _on_event(self, session: Session, event: str) -> None:
        known = self.classes.get(session.code)
        if known is None or event not in ("question", "review", "ended"):
            return
        self._spawn(self._announce(known, session, event))

    async def _announce(self, known: TelegramClass, session: Session, event: str) -> None:
        if event == "question":
            await self._question(known, session)
        elif event == "review":
            await self._feedback(known, session)
        elif event == "ended":
            await self._results(known, session)

    async def _question(self, known: TelegramClass, session: Session) -> None:
        index = session.row.question_index
        if index <= known.announced:
            return  # a resume, not a new question
        known.announced = index
        question = self.classroom.question_view(session, index)
        text = known.last_rate + self.t(known.locale, _(
            "<b>Question %(n)s of %(total)s</b>\n%(question)s\n\nAnswer in your private chat "
            "with SafeSteps: %(seconds)s seconds."), n=index + 1, total=session.total,
            question=html.escape(question["text"]),
            seconds=session.row.seconds_per_question)
        # The group's message waits for the group's limit; the pupils' do not wait for it.
        await asyncio.gather(self._send(known.group, text,
                                        self._teacher_buttons(session, join=True)),
                             *(self._ask(known, session, chat)
                               for chat in known.pupils.values()))

    async def _feedback(self, known: TelegramClass, session: Session) -> None:
        index = session.row.question_index
        reveal = self.classroom.pupil_view(session, None)
        answer = "; ".join(f"{chr(65 + n)}. {reveal['question']['options'][n]}"
                           for n in reveal.get("correct_options", []))
        explanation = str(reveal.get("explanation", ""))
        answers = session.answers.get(index, {})
        right = sum(a.correct for a in answers.values())
        known.last_rate = self.t(known.locale, _(
            "Question %(n)s: %(right)s of %(count)s right.\n\n"),
            n=index + 1, right=right, count=len(answers)) if answers else ""
        for player_id, chat in known.pupils.items():
            given = answers.get(player_id)
            verdict = (_("No answer this time.") if given is None else
                       _("✅ Right!") if given.correct else _("❌ Not quite."))
            text = (f"{self.t(known.locale, verdict)}\n"
                    + self.t(known.locale, _("The answer: %(answer)s"),
                             answer=html.escape(answer))
                    + f"\n{html.escape(explanation)}")
            self._spawn(self._send(chat, text))

    async def _results(self, known: TelegramClass, session: Session) -> None:
        board = session.leaderboard()
        ranks = {p.id: n for n, p in enumerate(board, start=1)}
        lines = [self.t(known.locale, _("<b>Results: %(title)s</b>"), title=html.escape(
            self.classroom.renderer(known.locale).text(session.quiz.title)))]
        lines += [f"{MEDALS[n]} {html.escape(p.nickname)} · {p.score}"
                  for n, p in enumerate(board[:len(MEDALS)])]
        summary = [q for q in self.classroom.question_summary(session) if q["answers"]]
        lines.append("")
        lines.append(self.t(known.locale, _("%(count)s pupils took part."), count=len(board)))
        if summary:
            hardest = min(summary, key=lambda q: (q["correct_rate"], q["index"]))
            lines.append(self.t(known.locale, _(
                "Hardest: question %(n)s (%(rate)s%% right)."), n=hardest["index"] + 1,
                rate=round(hardest["correct_rate"] * 100)))
        report = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
            text=self.t(known.locale, _("Report for the teacher (CSV)")),
            callback_data=f"cq:r:{session.code}")]])
        await self._send(known.group, "\n".join(lines), report)
        for player_id, chat in known.pupils.items():
            player = session.players.get(player_id)
            if player is not None:
                self._spawn(self._send(chat, self.t(known.locale, _(
                    "The quiz is over. Your score: %(score)s (place %(rank)s of "
                    "%(players)s)."), score=player.score, rank=ranks[player_id],
                    players=len(board))))
        self.by_group.pop(known.group, None)


def classroom_router(telegram: TelegramClassroom) -> Router:
    """/classquiz in groups, the pupils' join links, and the class quiz's buttons."""
    router = Router(name="classroom")

    @router.message(Command("classquiz"), F.chat.type.in_(GROUPS))
    async def classquiz(message: Message, command: CommandObject) -> None:
        await telegram.command(message, command)

    @router.message(Command("classquiz"), F.chat.type == ChatType.PRIVATE)
    async def classquiz_alone(message: Message) -> None:
        assert message.from_user is not None
        locale = telegram.gateway.locale_for(telegram.gateway.user_key(message.from_user.id),
                                             message.from_user.language_code)
        await telegram._send(message.chat.id, telegram.t(locale, _(
            "Add SafeSteps to your class group and send /classquiz there. To practise on "
            "your own, send /quiz.")))

    @router.message(CommandStart(deep_link=True, magic=F.args.regexp(JOIN_LINK)),
                    F.chat.type == ChatType.PRIVATE)
    async def join(message: Message, command: CommandObject) -> None:
        link = JOIN_LINK.match(command.args or "")
        assert link is not None
        telegram.gateway.remember(message.chat.id, message.message_id)
        await telegram.join(message, link["code"])

    @router.callback_query(F.data.startswith("cq:"))
    async def pressed(query: CallbackQuery) -> None:
        await telegram.pressed(query)

    return router
