"""The Telegram gateway: updates in, the chat API's conversation, Telegram messages out.

A thin client: every text, button press and poll answer goes through ``ChatService.reply``, so
the safety layer sees it first; the gateway only turns replies into Telegram messages (HTML,
inline keyboards, native quiz polls), keeps Telegram's limits (the outbox), and handles what
only Telegram has: deep links, /hide, commands per language, and groups.

Nothing here logs a user's text, a Telegram id or the token (see ``redact``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import time
import warnings
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from aiogram import BaseMiddleware, Bot, Dispatcher, F, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ChatType, ParseMode
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import (
    BotCommand,
    CallbackQuery,
    FSInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputPollOption,
    Message,
    PollAnswer,
    TelegramObject,
    Update,
)
from aiogram.utils.i18n import I18n
from aiohttp import web
from babel import Locale

from bot.chat.app import ChatService
from bot.classroom.engine import Classroom
from bot.render import payload
from bot.settings import Settings

log = logging.getLogger("safesteps.telegram")
# aiogram logs each update's number and, for update types it does not know, the whole update
# (which may hold a user's text); SafeSteps logs neither.
logging.getLogger("aiogram.event").setLevel(logging.WARNING)
warnings.filterwarnings("ignore", message="Detected unknown update type")

ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "poll_answer"]
SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
DEEP_LINK = re.compile(r"^(?P<kind>[lq])_(?P<id>[a-z0-9-]{1,60})$")
CALLBACK_BYTES = 64
DELETE_WINDOW_SECONDS = 48 * 60 * 60 - 60  # Telegram deletes messages younger than 48 hours
REMEMBERED_MESSAGES = 300  # per private chat, for /hide
REMEMBERED_CHATS = 20_000
SEEN_UPDATES = 20_000

COMMANDS = {  # command -> the payload it sends to the conversation
    "lessons": "/lessons", "quiz": "/quiz", "hotline": "/find_hotline",
    "language": "/change_language", "help": "/menu", "menu": "/menu", "privacy": "/privacy",
    "forget": "/forget_me",
}
NAVIGATION = ("/menu", "/find_hotline")
START_LINKS = {"help": "/find_hotline", "lessons": "/lessons", "quiz": "/quiz", "menu": "/menu"}


def _(message: str) -> str:
    """Marks an interface string for extraction; translated per user with the catalogs."""
    return message


COMMAND_HELP = (
    ("start", _("Start SafeSteps")),
    ("lessons", _("Lessons on staying safe")),
    ("quiz", _("Test what you know")),
    ("hotline", _("Who to call for help")),
    ("language", _("Change the language")),
    ("help", _("Show the menu")),
    ("privacy", _("What SafeSteps keeps about you")),
    ("forget", _("Delete what SafeSteps keeps")),
    ("hide", _("Quick exit: clear this chat")),
    ("classquiz", _("Teachers: a live quiz with your class group")),
)


class WebhookError(Exception):
    """Webhook mode cannot start as configured; the message says what to fix."""


def webhook_secret(settings: Settings, secret: str | None) -> tuple[str, str]:
    """The webhook's public address and secret token, checked; WebhookError otherwise."""
    url = settings.telegram.webhook_url
    if not url or not url.startswith("https://"):
        raise WebhookError("Webhook mode needs telegram.webhook_url in config.yml: the public "
                           "https:// address Telegram should post updates to.")
    if not secret or not SECRET_TOKEN.match(secret):
        raise WebhookError("Webhook mode needs SAFESTEPS_TELEGRAM_WEBHOOK_SECRET: 1 to 256 "
                           "characters, only A-Z, a-z, 0-9, _ and -. Telegram sends it with "
                           "every update, and updates without it are refused.")
    return url, secret


def make_bot(token: str, api_url: str | None) -> Bot:
    """The aiogram Bot; ``api_url`` points it at a self-hosted (or stand-in) Bot API server."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_url)) if api_url else None
    return Bot(token, session=session, default=DefaultBotProperties(
        parse_mode=ParseMode.HTML, link_preview_is_disabled=True))


def catalog_name(locale: str) -> str:
    """zh-Hans -> zh_Hans: the folder name of a locale's catalog."""
    return str(Locale.parse(locale, sep="-"))


class RecentIds:
    """A bounded set of recently seen ids (update ids, poll ids)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.ids: OrderedDict[Any, None] = OrderedDict()

    def add(self, key: Any) -> bool:
        """True the first time ``key`` is seen."""
        if key in self.ids:
            return False
        self.ids[key] = None
        while len(self.ids) > self.size:
            self.ids.popitem(last=False)
        return True


@dataclass(frozen=True)
class AskedPoll:
    chat_id: int
    options: int


class Gateway:
    """One bot: its dispatcher, send queue and the little it remembers (in memory only)."""

    def __init__(self, settings: Settings, service: ChatService, bot: Bot,
                 classroom: Classroom | None = None) -> None:
        from bot.telegram.classroom import TelegramClassroom
        from bot.telegram.outbox import Outbox

        self.settings = settings
        self.service = service
        self.bot = bot
        self.outbox = Outbox(settings.telegram)
        self.i18n = I18n(path=settings.resolve(Path("locales")),
                         default_locale=catalog_name(service.library.default_locale),
                         domain="safesteps")
        self.username = ""
        self.seen_updates = RecentIds(SEEN_UPDATES)
        self.long_payloads: OrderedDict[str, str] = OrderedDict()
        self.polls: OrderedDict[str, AskedPoll] = OrderedDict()
        self.sent: OrderedDict[int, deque[tuple[int, float]]] = OrderedDict()
        self.turns: OrderedDict[int, asyncio.Lock] = OrderedDict()
        self.classroom = TelegramClassroom(self, classroom) if classroom is not None else None
        self.dispatcher = self._build_dispatcher()

    # Interface strings ------------------------------------------------------------------------

    def locale_for(self, user_key: str, language_code: str | None) -> str:
        known = self.service.locale_of(user_key)
        return known or self.service.library.pick_locale(language_code)

    def gettext(self, locale: str, message: str) -> str:
        return self.i18n.gettext(message, locale=catalog_name(locale))

    # The conversation ---------------------------------------------------------------------------

    @staticmethod
    def user_key(user_id: int) -> str:
        return f"telegram:{user_id}"

    async def relay(self, chat_id: int, user_id: int, language_code: str | None,
                    text: str) -> None:
        """Send ``text`` (typed, or a button's payload) into the conversation; deliver replies.

        A chat's turns are answered in the order they came; danger does not wait its turn.
        """
        key = self.user_key(user_id)
        known = self.service.locale_of(key)
        locale = known or self.service.library.pick_locale(language_code)
        found = self.service.assess(key, text, locale)
        if found.tier == "emergency":
            reply = await self.service.reply(key, text, None if known else locale,
                                             assessment=found)
            await self.deliver(chat_id, reply.messages, urgent=True)
            return
        lock = self.turns.get(chat_id)
        if lock is None:
            lock = self.turns[chat_id] = asyncio.Lock()
            if len(self.turns) > REMEMBERED_CHATS:  # forget the oldest idle chats
                idle = [c for c, held in self.turns.items() if not held.locked()]
                for old in idle[: len(self.turns) - REMEMBERED_CHATS]:
                    del self.turns[old]
        self.turns.move_to_end(chat_id)
        async with lock:
            reply = await self.service.reply(key, text, None if known else locale,
                                             assessment=found)
            await self.deliver(chat_id, reply.messages)

    async def deliver(self, chat_id: int, messages: list[dict[str, Any]], *,
                      urgent: bool = False) -> None:
        for message in messages:
            image = message.get("image")
            if image and (path := self._image_path(str(image))) is not None:
                await self._send(chat_id, partial(self.bot.send_photo, chat_id,
                                                  FSInputFile(path)), urgent=urgent)
            quiz = message.get("quiz")
            if isinstance(quiz, dict) and self._as_poll(chat_id, quiz):
                await self._send_poll(chat_id, message, quiz)
                continue
            markup = self.keyboard(message.get("buttons") or [])
            text = str(message.get("text") or "…")
            await self._send(chat_id, partial(self.bot.send_message, chat_id, text,
                                              reply_markup=markup), urgent=urgent)

    async def send_text(self, chat_id: int, text: str,
                        markup: InlineKeyboardMarkup | None = None) -> Any:
        """One HTML message through the send queue (remembered for /hide in private chats)."""
        return await self._send(chat_id, partial(self.bot.send_message, chat_id, text,
                                                 reply_markup=markup))

    async def _send(self, chat_id: int, call: Callable[[], Awaitable[Any]], *,
                    urgent: bool = False) -> Any:
        sent = await self.outbox.send(chat_id, call, urgent=urgent)
        if isinstance(sent, Message) and chat_id > 0:
            self.remember(chat_id, sent.message_id)
        return sent

    def _as_poll(self, chat_id: int, quiz: dict[str, Any]) -> bool:
        options = quiz.get("options")
        return (self.settings.telegram.quiz_style == "poll" and chat_id > 0
                and quiz.get("type") in ("single", "true-false")
                and isinstance(options, list) and 2 <= len(options) <= 12
                and all(isinstance(o, str) and 0 < len(o) <= 100 for o in options)
                and isinstance(quiz.get("question"), str)
                and 0 < len(quiz["question"]) <= 300
                and isinstance(quiz.get("correct"), list) and len(quiz["correct"]) == 1)

    async def _send_poll(self, chat_id: int, message: dict[str, Any], quiz: dict[str, Any]
                         ) -> None:
        question = str(quiz["question"])
        numbered = f"{int(quiz.get('index', 0)) + 1}/{quiz.get('total', '?')} · {question}"
        if len(numbered) <= 300:
            question = numbered
        navigation = [b for b in message.get("buttons") or []
                      if not str(b.get("payload", "")).startswith("/answer")]
        options: list[InputPollOption | str] = [InputPollOption(text=str(o))
                                                for o in quiz["options"]]
        sent = await self._send(chat_id, lambda: self.bot.send_poll(
            chat_id, question, options, type="quiz", is_anonymous=False,
            correct_option_ids=[int(quiz["correct"][0])], question_parse_mode=None,
            reply_markup=self.keyboard(navigation)))
        if isinstance(sent, Message) and sent.poll is not None:
            self.polls[sent.poll.id] = AskedPoll(chat_id, len(options))
            while len(self.polls) > REMEMBERED_CHATS:
                self.polls.popitem(last=False)

    def _image_path(self, image: str) -> Path | None:
        for content, _quizzes in self.settings.pack_locations():
            path = (content / image).resolve()
            if path.is_file() and path.is_relative_to(content.resolve()):
                return path
        return None

    # Buttons --------------------------------------------------------------------------------

    def callback_data(self, button_payload: str) -> str:
        """The payload itself, or a short key for it when it is longer than 64 bytes."""
        if len(button_payload.encode("utf-8")) <= CALLBACK_BYTES:
            return button_payload
        key = "#" + secrets.token_urlsafe(9)
        self.long_payloads[key] = button_payload
        while len(self.long_payloads) > REMEMBERED_CHATS * 5:
            self.long_payloads.popitem(last=False)
        return key

    def resolve(self, data: str) -> str | None:
        return self.long_payloads.get(data) if data.startswith("#") else data

    def keyboard(self, buttons: list[dict[str, Any]]) -> InlineKeyboardMarkup | None:
        """Answer buttons (A, B, C ...) share a row, as do Menu and Get help; others get one."""
        rows: list[list[InlineKeyboardButton]] = []
        kinds: list[str] = []
        for button in buttons:
            title, data = str(button.get("title", "")), str(button.get("payload", ""))
            if not title or not data:
                continue
            key = InlineKeyboardButton(text=title, callback_data=self.callback_data(data))
            intent = data.split("{", 1)[0]
            kind = ("answer" if intent == "/answer" and len(title) <= 6 else
                    "navigation" if intent in NAVIGATION else "")
            if kind and kinds and kinds[-1] == kind and len(rows[-1]) < 4:
                rows[-1].append(key)
            else:
                rows.append([key])
                kinds.append(kind)
        return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None

    # What /hide can delete ----------------------------------------------------------------------

    def remember(self, chat_id: int, message_id: int) -> None:
        kept = self.sent.get(chat_id)
        if kept is None:
            kept = self.sent[chat_id] = deque(maxlen=REMEMBERED_MESSAGES)
            while len(self.sent) > REMEMBERED_CHATS:
                self.sent.popitem(last=False)
        else:
            self.sent.move_to_end(chat_id)
        kept.append((message_id, time.time()))

    async def hide(self, message: Message) -> None:
        """The quick exit: delete this chat's recent messages, forget the conversation."""
        assert message.from_user is not None
        chat_id, key = message.chat.id, self.user_key(message.from_user.id)
        locale = self.locale_for(key, message.from_user.language_code)
        self.remember(chat_id, message.message_id)
        await self.service.forget(self.service.pseudonym(key))
        cutoff = time.time() - DELETE_WINDOW_SECONDS
        for message_id, when in self.sent.pop(chat_id, deque()):
            if when >= cutoff:
                await self.outbox.send(chat_id, partial(self.bot.delete_message, chat_id,
                                                        message_id), urgent=True, counted=False)
        note = self.gettext(locale, _(
            "Cleared. SafeSteps deleted this chat's messages from the last 48 hours and forgot "
            "the conversation. Older messages, copies on your other devices and screenshots "
            "cannot be deleted from here."))
        await self.outbox.send(chat_id, lambda: self.bot.send_message(
            chat_id, note, reply_markup=self.keyboard(
                [{"title": self.gettext(locale, _("Menu")), "payload": "/menu"}])),
            urgent=True)

    # Groups -----------------------------------------------------------------------------------

    def private_link(self, start: str) -> str:
        return f"https://t.me/{self.username}?start={start}"

    async def group_message(self, message: Message, start: str = "help") -> None:
        """In a group: never repeat what anyone wrote; offer a private chat instead."""
        user = message.from_user
        locale = self.locale_for(self.user_key(user.id) if user else "",
                                 user.language_code if user else None)
        danger = self.service.safety.assess(message.text or message.caption or "",
                                            locale).tier == "emergency"
        text = self.gettext(locale, _(
            "If you or someone you know needs help, talk to SafeSteps in a private chat. "
            "Nothing you write there is shown in this group.") if danger else _(
            "SafeSteps answers in a private chat, so that what you write stays between you "
            "and SafeSteps."))
        title = self.gettext(locale, _("Open a private chat"))
        markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
            text=title, url=self.private_link("help" if danger else start))]])
        await self.outbox.send(message.chat.id, lambda: self.bot.send_message(
            message.chat.id, text, reply_markup=markup), urgent=danger)

    # Updates ----------------------------------------------------------------------------------

    def _build_dispatcher(self) -> Dispatcher:
        dispatcher = Dispatcher()
        dispatcher.update.outer_middleware(DropRepeatedUpdates(self.seen_updates))
        if self.classroom is not None:
            from bot.telegram.classroom import classroom_router

            dispatcher.include_router(classroom_router(self.classroom))
        dispatcher.include_routers(
            groups_router(self), start_router(self), privacy_router(self),
            commands_router(self, "lessons", "lessons"), quizzes_router(self),
            commands_router(self, "hotlines", "hotline"),
            commands_router(self, "settings", "language", "help", "menu"),
            conversation_router(self))
        return dispatcher

    async def register_commands(self) -> None:
        """The command menu in each language (and the default one for everyone else)."""
        library = self.service.library
        for locale in [None, *library.locales]:
            shown = locale or library.default_locale
            commands = [BotCommand(command=name, description=self.gettext(shown, text))
                        for name, text in COMMAND_HELP]
            language = Locale.parse(locale, sep="-").language if locale else None
            await self.outbox.send(0, partial(self.bot.set_my_commands, commands,
                                              language_code=language), counted=False)

    async def start(self) -> None:
        me = await self.bot.get_me()
        self.username = me.username or ""
        await self.register_commands()


class DropRepeatedUpdates(BaseMiddleware):
    """Telegram delivers at least once: an update_id seen before is not processed again."""

    def __init__(self, seen: RecentIds) -> None:
        self.seen = seen

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        if isinstance(event, Update) and not self.seen.add(event.update_id):
            log.info("telegram: a repeated update was dropped")
            return None
        return await handler(event, data)


# Routers by feature ---------------------------------------------------------------------------

PRIVATE = F.chat.type == ChatType.PRIVATE


def _private_command(gateway: Gateway, router: Router, name: str) -> None:
    async def handler(message: Message) -> None:
        assert message.from_user is not None
        gateway.remember(message.chat.id, message.message_id)
        await gateway.relay(message.chat.id, message.from_user.id,
                            message.from_user.language_code, COMMANDS[name])

    router.message.register(handler, Command(name), PRIVATE)


def groups_router(gateway: Gateway) -> Router:
    """Groups and supergroups: privacy mode shows the bot commands and replies to it only."""
    router = Router(name="groups")
    router.message.filter(F.chat.type.in_({ChatType.GROUP, ChatType.SUPERGROUP}))

    @router.message(Command(*COMMANDS, "start"))
    async def group_command(message: Message, command: CommandObject) -> None:
        start = {"lessons": "lessons", "quiz": "quiz", "hotline": "help"}.get(
            command.command, "menu")
        await gateway.group_message(message, start)

    @router.message()
    async def group_text(message: Message) -> None:
        await gateway.group_message(message)

    return router


def start_router(gateway: Gateway) -> Router:
    """/start, with deep links for posters: l_<lesson>, q_<quiz>, help, lessons, quiz, menu."""
    router = Router(name="start")

    @router.message(CommandStart(), PRIVATE)
    async def start(message: Message, command: CommandObject) -> None:
        assert message.from_user is not None
        gateway.remember(message.chat.id, message.message_id)
        text = "/greet"
        argument = (command.args or "").strip()
        if argument in START_LINKS:
            text = START_LINKS[argument]
        elif (link := DEEP_LINK.match(argument)) is not None:
            text = payload("open_lesson" if link["kind"] == "l" else "open_quiz",
                           **{link["kind"]: link["id"]})
        await gateway.relay(message.chat.id, message.from_user.id,
                            message.from_user.language_code, text)

    return router


def commands_router(gateway: Gateway, name: str, *commands: str) -> Router:
    """A feature's router with its commands, each sent into the conversation as a payload."""
    router = Router(name=name)
    for command in commands:
        _private_command(gateway, router, command)
    return router


def privacy_router(gateway: Gateway) -> Router:
    """/privacy, /forget and /hide (the quick exit)."""
    router = commands_router(gateway, "privacy", "privacy", "forget")

    @router.message(Command("hide"), PRIVATE)
    async def hide(message: Message) -> None:
        await gateway.hide(message)

    return router


def quizzes_router(gateway: Gateway) -> Router:
    """/quiz, and answers to native quiz polls (scored like a button press)."""
    router = commands_router(gateway, "quizzes", "quiz")

    @router.poll_answer()
    async def poll_answer(answer: PollAnswer) -> None:
        asked = gateway.polls.get(answer.poll_id)
        if asked is None or answer.user is None or not answer.option_ids:
            return  # a poll from before a restart, or a vote taken back
        option = answer.option_ids[0]
        if 0 <= option < asked.options:
            await gateway.relay(asked.chat_id, answer.user.id, answer.user.language_code,
                                payload("answer", o=option + 1))

    return router


def conversation_router(gateway: Gateway) -> Router:
    """Everything else in a private chat: text, button presses, edits, other kinds of message."""
    router = Router(name="conversation")

    @router.callback_query()
    async def pressed(query: CallbackQuery) -> None:
        data = gateway.resolve(query.data or "")
        chat = query.message.chat.id if query.message is not None else query.from_user.id
        locale = gateway.locale_for(gateway.user_key(query.from_user.id),
                                    query.from_user.language_code)
        try:
            await gateway.outbox.send(chat, lambda: query.answer(
                None if data else gateway.gettext(locale, _("This button has expired."))),
                urgent=True, counted=False)
        finally:
            await gateway.relay(chat, query.from_user.id, query.from_user.language_code,
                                data or "/menu")

    @router.message(PRIVATE, F.text | F.caption)
    async def typed(message: Message) -> None:
        """Text, or the caption of a photo or a file."""
        text = message.text or message.caption
        assert message.from_user is not None and text is not None
        gateway.remember(message.chat.id, message.message_id)
        await gateway.relay(message.chat.id, message.from_user.id,
                            message.from_user.language_code, text)

    @router.message(PRIVATE)
    async def other(message: Message) -> None:
        """Stickers, voice, photos without a caption ...: SafeSteps reads text only."""
        assert message.from_user is not None
        gateway.remember(message.chat.id, message.message_id)
        locale = gateway.locale_for(gateway.user_key(message.from_user.id),
                                    message.from_user.language_code)
        text = gateway.gettext(locale, _("SafeSteps can only read text. Type your question, "
                                         "or choose from the menu."))
        await gateway.deliver(message.chat.id, [{"text": text, "buttons": [
            {"title": gateway.gettext(locale, _("Menu")), "payload": "/menu"},
            {"title": gateway.gettext(locale, _("Get help")), "payload": "/find_hotline"}]}])

    @router.edited_message(PRIVATE)
    async def edited(message: Message) -> None:
        """An edit is not a new turn, but danger written in an edit is still answered."""
        text = message.text or message.caption or ""
        if message.from_user is not None and \
                gateway.service.safety.assess(text).tier == "emergency":
            await gateway.relay(message.chat.id, message.from_user.id,
                                message.from_user.language_code, text)

    return router


# Running ------------------------------------------------------------------------------------------


def webhook_handler(gateway: Gateway, secret: str) -> Callable[[web.Request],
                                                               Awaitable[web.StreamResponse]]:
    """Telegram's updates on the chat API server: 401 without the secret header."""
    from aiogram.webhook.aiohttp_server import SimpleRequestHandler

    handler = SimpleRequestHandler(gateway.dispatcher, gateway.bot, secret_token=secret)

    async def receive(request: web.Request) -> web.StreamResponse:
        if request.content_length is not None and request.content_length > 1_000_000:
            return web.json_response({"error": "the update is too large"}, status=413)
        try:
            return await handler.handle(request)
        except (ValueError, json.JSONDecodeError):
            return web.json_response({"error": "the body is not a Telegram update"}, status=400)

    return receive
