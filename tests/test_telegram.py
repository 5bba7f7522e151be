"""The real aiogram bot, started by `safesteps up`, against the stand-in Bot API on loopback,
with the real stack behind it (Rasa, action server, chat API). No test touches the network.

Each test pushes updates as Telegram would and reads what the bot called. The stand-in refuses
what Telegram refuses (bad HTML, long callback data, oversized polls), so every test also checks
that the bot made no call Telegram would have rejected.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bot.safety.layer import SafetyLayer
from bot.settings import load_settings
from tests.assistant_stack import TELEGRAM_TOKEN, Running, free_port, made_up_token
from tests.conftest import ROOT
from tests.telegram_standin import (
    BOT_USERNAME,
    Call,
    StandIn,
    check_html,
    poll_answer_update,
    press_update,
    text_update,
)
from tests.test_assistant import WHAT_TO_DO, _pseudonym, _stored_events, library

pytestmark = pytest.mark.assistant

# Telegram ids of the test users: a prefix no log line may contain (see conftest).
TELEGRAM_ID_PREFIX = 7_700_000
_users = itertools.count(TELEGRAM_ID_PREFIX * 1000 + os.getpid() % 1000 * 100)
LANGUAGE_CODES = {"en": "en", "zh-Hans": "zh-hans", "vi": "vi"}


class Chat:
    """One Telegram user in a private chat with the bot."""

    def __init__(self, tg: StandIn, language: str = "en") -> None:
        self.tg = tg
        self.id = next(_users)
        self.language = language
        self.message_ids = itertools.count(1)
        self.sent: list[int] = []  # the user's own message ids

    def say(self, text: str, until: str | None = None, timeout: float = 30) -> list[Call]:
        """Send ``text``; wait for the bot's answer (one containing ``until``, if given)."""
        mark = self.tg.mark()
        message_id = next(self.message_ids)
        self.sent.append(message_id)
        self.tg.push(text_update(self.id, text, self.language, message_id=message_id))
        return self.wait(mark, until, timeout)

    def press(self, data: str, until: str | None = None) -> list[Call]:
        mark = self.tg.mark()
        self.tg.push(press_update(self.id, data, language=self.language))
        return self.wait(mark, until, answered=True)

    def vote(self, poll_id: str, option: int, until: str | None = None) -> list[Call]:
        mark = self.tg.mark()
        self.tg.push(poll_answer_update(self.id, poll_id, option))
        return self.wait(mark, until)

    def wait(self, mark: int, until: str | None, timeout: float = 30,
             answered: bool = False) -> list[Call]:
        def done(calls: list[Call]) -> bool:
            mine = shown(calls, self.id)
            if answered and not any(c.method == "answerCallbackQuery" for c in calls):
                return False
            if until is None:
                return bool(mine)
            return any(until in visible(c) for c in mine)

        self.tg.wait_for(mark, done, timeout)
        time.sleep(0.3)  # the rest of a reply of several messages
        return self.tg.since(mark)


def shown(calls: list[Call], chat_id: int) -> list[Call]:
    """What the bot showed in a chat: messages and polls that Telegram accepted."""
    return [c for c in calls if c.method in ("sendMessage", "sendPoll")
            and int(c.params["chat_id"]) == chat_id and c.status == 200]


def visible(call: Call) -> str:
    return str(call.params.get("text") or call.params.get("question") or "")


def buttons(call: Call) -> dict[str, str]:
    """title -> callback data (or url) of a message's inline keyboard."""
    rows = (call.params.get("reply_markup") or {}).get("inline_keyboard", [])
    return {b["text"]: b.get("callback_data") or b.get("url") for row in rows for b in row}


def last_shown(calls: list[Call], chat_id: int) -> Call:
    return shown(calls, chat_id)[-1]


def no_refusals(tg: StandIn) -> None:
    refused = [(c.method, c.status) for c in tg.since(0) if c.status == 400]
    assert refused == [], "Telegram would have refused these calls"


def stored_events(user_id: int) -> int:
    """What the conversation store holds for this Telegram user (as the gateway names them)."""
    return _stored_events(_pseudonym(f"telegram:{user_id}"))


# Startup ------------------------------------------------------------------------------------------


def test_commands_are_registered_in_every_language(stack: Running) -> None:
    registered = {c.params.get("language_code"): c.params["commands"]
                  for c in stack.telegram.since(0, "setMyCommands")}
    assert set(registered) == {None, "en", "zh", "vi"}
    names = [c["command"] for c in registered["en"]]
    assert names[:1] == ["start"] and {"hide", "forget", "hotline", "language"} <= set(names)
    assert registered["en"][0]["description"] == "Start SafeSteps"
    assert registered["zh"][0]["description"] != registered["en"][0]["description"]
    assert registered["vi"][0]["description"] != registered["en"][0]["description"]
    assert registered[None] == registered["zh"]  # the deployment's default language: zh-Hans
    assert stack.telegram.since(0, "deleteWebhook"), "polling mode clears any old webhook"


# Conversations ----------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", ["en", "zh-Hans", "vi"])
def test_start_answers_in_the_users_language(stack: Running, locale: str) -> None:
    chat = Chat(stack.telegram, LANGUAGE_CODES[locale])
    calls = chat.say("/start", until=WHAT_TO_DO[locale])
    menu = next(c for c in shown(calls, chat.id) if WHAT_TO_DO[locale] in visible(c))
    assert "/lessons" in buttons(menu).values()
    assert "/find_hotline" in buttons(menu).values()
    no_refusals(stack.telegram)


def test_a_lesson_by_button_presses(stack: Running) -> None:
    lesson = library().lessons["teens-helping-a-friend"]
    chat = Chat(stack.telegram)
    calls = chat.say(f"/start l_{lesson.id}", until="Step 1 of")
    for step in range(2, len(lesson.steps) + 1):
        nxt = buttons(last_shown(calls, chat.id))["Next"]
        calls = chat.press(nxt, until=f"Step {step} of")
        answered = [c for c in calls if c.method == "answerCallbackQuery"]
        assert answered, "every button press is answered"
    end = chat.press(buttons(last_shown(calls, chat.id))["Next"])
    assert "Take the quiz" in buttons(last_shown(end, chat.id))
    no_refusals(stack.telegram)


def test_a_quiz_by_poll_answers_and_by_buttons(stack: Running) -> None:
    quiz = library().quizzes["teens-jobs-and-documents"]
    chat = Chat(stack.telegram)
    calls = chat.say(f"/start q_{quiz.id}")
    polls = pressed = 0
    for question in quiz.questions:
        asked = last_shown(calls, chat.id)
        correct = sorted(question.correct_options())
        if asked.method == "sendPoll":  # single answer and true/false: a native quiz poll
            assert asked.params["type"] == "quiz" and asked.params["correct_option_ids"] == \
                correct
            assert "/menu" in buttons(asked).values()
            feedback = chat.vote(asked.result["poll"]["id"], correct[0], until="Right!")
            polls += 1
        else:  # several right answers: inline buttons, then Done
            assert question.type == "multiple"
            for n in correct:
                chat.press(json_payload("answer", o=n + 1))
            feedback = chat.press(json_payload("answer", o=0), until="Right!")
            pressed += 1
        calls = chat.press(buttons(last_shown(feedback, chat.id))["Next"])
    total = len(quiz.questions)
    assert f"You got {total} of {total} right" in "\n".join(
        visible(c) for c in shown(calls, chat.id))
    assert polls and pressed
    no_refusals(stack.telegram)


def json_payload(intent: str, **entities: Any) -> str:
    return f"/{intent}" + json.dumps(entities, separators=(",", ":"))


def test_danger_gets_the_emergency_number_in_under_10_seconds(stack: Running) -> None:
    chat = Chat(stack.telegram, "vi")
    chat.say("/start", until=WHAT_TO_DO["vi"])
    started = time.monotonic()
    calls = chat.say(library().lexicons["vi"].examples.danger[0], until="110", timeout=10)
    assert time.monotonic() - started < 10
    reply = next(c for c in shown(calls, chat.id) if "110" in visible(c))
    assert "/safe_to_talk" in buttons(reply).values() or "/find_hotline" in \
        buttons(reply).values()


def test_a_429_is_waited_out_and_the_same_message_sent_again(stack: Running) -> None:
    tg = stack.telegram
    chat = Chat(tg)
    chat.say("/start", until=WHAT_TO_DO["en"])
    tg.fail("sendMessage", code=429, retry_after=2)
    calls = chat.say("/privacy", until="does not ask for your name")
    sends = [c for c in calls if c.method == "sendMessage" and int(c.params["chat_id"]) == chat.id]
    refused, sent = sends[0], next(c for c in sends if c.status == 200)
    assert refused.status == 429
    assert sent.params["text"] == refused.params["text"]
    assert sent.at - refused.at >= 2.0


def test_a_repeated_update_is_processed_once(stack: Running) -> None:
    tg = stack.telegram
    chat = Chat(tg)
    chat.say("/start", until=WHAT_TO_DO["en"])
    mark = tg.mark()
    update = {"update_id": tg.next_update_id(),
              **text_update(chat.id, "/privacy", "en", message_id=50)}
    tg.push(update, dict(update))  # in one getUpdates answer, as after a retried delivery
    tg.wait_for(mark, lambda calls: any("does not ask" in visible(c)
                                        for c in shown(calls, chat.id)))
    time.sleep(2)
    answers = [c for c in shown(tg.since(mark), chat.id) if "does not ask" in visible(c)]
    assert len(answers) == 1


def test_hostile_updates_do_not_stop_the_bot(stack: Running) -> None:
    tg = stack.telegram
    chat = Chat(tg)
    mark = tg.mark()
    tg.push({"future_update_kind": {"anything": [1, 2, 3]}})  # a type aiogram does not know
    tg.push(text_update(chat.id, "x" * 5000, "en", message_id=90))  # over Telegram's 4,096
    tg.push(text_update(chat.id, "<b>bold</b> & <<b>> </i>", "en", message_id=91))
    tg.push({"edited_message": text_update(chat.id, "hello again", "en", message_id=91)["message"]})
    tg.push({"message": {"message_id": 92, "date": int(time.time()),
                         "chat": {"id": chat.id, "type": "private"},
                         "from": {"id": chat.id, "is_bot": False, "first_name": "P"},
                         "sticker": {"file_id": "s", "file_unique_id": "s", "type": "regular",
                                     "width": 1, "height": 1, "is_animated": False,
                                     "is_video": False}}})
    tg.wait_for(mark, lambda calls: any("can only read text" in visible(c)
                                        for c in shown(calls, chat.id)))
    # Still answering, in order, and nothing it sent would have been refused.
    chat.say("/start", until=WHAT_TO_DO["en"])
    for call in shown(tg.since(mark), chat.id):
        if call.method == "sendMessage":
            assert check_html(call.params["text"]) is None
    no_refusals(tg)


def test_a_danger_edit_is_answered(stack: Running) -> None:
    tg = stack.telegram
    chat = Chat(tg)
    chat.say("/start", until=WHAT_TO_DO["en"])
    mark = tg.mark()
    danger = library().lexicons["en"].examples.danger[0]
    tg.push({"edited_message": text_update(chat.id, danger, "en", message_id=1)["message"]})
    tg.wait_for(mark, lambda calls: any("110" in visible(c) for c in shown(calls, chat.id)))


def test_hide_deletes_the_chat_and_forgets_the_conversation(stack: Running) -> None:
    tg = stack.telegram
    chat = Chat(tg)
    chat.say("/start", until=WHAT_TO_DO["en"])
    chat.say("/privacy", until="does not ask")
    bot_messages = [c.result["message_id"] for c in shown(tg.since(0), chat.id)]
    assert stored_events(chat.id) > 0
    calls = chat.say("/hide", until="Cleared")
    deleted = {int(c.params["message_id"]) for c in calls if c.method == "deleteMessage"
               and int(c.params["chat_id"]) == chat.id}
    assert set(chat.sent) <= deleted  # the user's messages, /hide included
    assert set(bot_messages) <= deleted  # and the bot's
    assert stored_events(chat.id) == 0
    note = last_shown(calls, chat.id)
    assert "48 hours" in visible(note) and "screenshots" in visible(note)


# Groups -------------------------------------------------------------------------------------------


def test_in_a_group_disclosures_are_never_repeated_and_lead_to_a_private_chat(
        stack: Running) -> None:
    tg = stack.telegram
    group, pupil = -(next(_users)), next(_users)
    mark = tg.mark()
    tg.push(text_update(pupil, f"/start@{BOT_USERNAME}", "en", chat_id=group, message_id=1))
    calls = tg.wait_for(mark, lambda calls: bool(shown(calls, group)))
    invite = last_shown(calls, group)
    assert buttons(invite) == {"Open a private chat":
                               f"https://t.me/{BOT_USERNAME}?start=menu"}
    disclosure = library().lexicons["en"].examples.danger[2]
    assert SafetyLayer(library()).check(disclosure) is not None
    mark = tg.mark()
    tg.push(text_update(pupil, disclosure, "en", chat_id=group, message_id=2))
    calls = tg.wait_for(mark, lambda calls: bool(shown(calls, group)))
    reply = last_shown(calls, group)
    # One fixed sentence, whatever was disclosed: nothing of it is repeated.
    assert visible(reply) == ("If you or someone you know needs help, talk to SafeSteps in a "
                              "private chat. Nothing you write there is shown in this group.")
    assert buttons(reply) == {"Open a private chat": f"https://t.me/{BOT_USERNAME}?start=help"}
    assert "reply_to_message_id" not in reply.params and "reply_parameters" not in reply.params
    assert stored_events(pupil) == 0  # group messages never reach the conversation store


# Webhook mode -------------------------------------------------------------------------------------


def test_webhook_updates_without_the_secret_are_refused(stack: Running) -> None:
    import aiohttp
    from aiohttp import web

    from bot.stack import make_service
    from bot.telegram.gateway import Gateway, make_bot, webhook_handler

    tg, secret = stack.telegram, "class-7b_secret-token"
    pupil = next(_users)
    tg.chat_started(pupil)  # the pupil writes to the bot through the webhook below

    async def scenario() -> list[int]:
        settings = load_settings(ROOT)
        service = make_service(settings, f"http://127.0.0.1:{stack.ports['rasa']}", None)
        await service.rasa.start()
        bot = make_bot(TELEGRAM_TOKEN, tg.url)
        gateway = Gateway(settings, service, bot)
        await gateway.start()
        app = web.Application()
        app.router.add_post("/telegram/webhook", webhook_handler(gateway, secret))
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        url = f"http://127.0.0.1:{port}/telegram/webhook"
        statuses = []
        async with aiohttp.ClientSession() as http:
            for n, headers in enumerate([{}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"},
                                         {"X-Telegram-Bot-Api-Secret-Token": secret.upper()},
                                         {"X-Telegram-Bot-Api-Secret-Token": secret}]):
                update = {"update_id": 8_000_000 + pupil * 10 + n,
                          **text_update(pupil, "/privacy", "en", message_id=n + 1)}
                async with http.post(url, json=update, headers=headers) as response:
                    statuses.append(response.status)
                if n == 2:
                    await asyncio.sleep(1.5)
                    assert not shown(tg.since(0), pupil), "a refused update was processed"
            async with http.post(url, data=b"{not json", headers={
                    "X-Telegram-Bot-Api-Secret-Token": secret}) as response:
                statuses.append(response.status)
        deadline = time.monotonic() + 20
        while not shown(tg.since(0), pupil) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await runner.cleanup()
        await bot.session.close()
        await service.rasa.close()
        return statuses

    assert asyncio.run(scenario()) == [401, 401, 401, 200, 400]
    assert any("does not ask" in visible(c) for c in shown(tg.since(0), pupil))


@pytest.mark.parametrize("secret", [None, "has spaces in it", "x" * 257])
def test_webhook_mode_refuses_to_start_without_a_valid_secret(
        tmp_path: Path, secret: str | None) -> None:
    (tmp_path / "config.yml").write_text(
        "telegram:\n  mode: webhook\n  webhook_url: https://safesteps.example.org/telegram\n",
        encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFESTEPS_TELEGRAM")}
    env["SAFESTEPS_TELEGRAM_TOKEN"] = TELEGRAM_TOKEN
    if secret is not None:
        env["SAFESTEPS_TELEGRAM_WEBHOOK_SECRET"] = secret
    result = subprocess.run([sys.executable, "-m", "bot", "up", "--port", str(free_port())],
                            cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)},
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert "SAFESTEPS_TELEGRAM_WEBHOOK_SECRET" in result.stderr
    assert TELEGRAM_TOKEN.split(":")[1] not in result.stdout + result.stderr
    assert "Starting" not in result.stderr  # refused before anything started


def test_the_token_never_reaches_a_log_line() -> None:
    from bot.telegram.redact import RedactToken

    redactor = RedactToken(TELEGRAM_TOKEN)
    try:
        raise OSError(f"cannot reach https://api.telegram.org/bot{TELEGRAM_TOKEN}/getMe")
    except OSError:
        record = logging.LogRecord("aiogram", logging.ERROR, __file__, 1,
                                   "Failed to fetch updates - %s", (TELEGRAM_TOKEN,),
                                   sys.exc_info())
    redactor.filter(record)
    text = logging.Formatter().format(record)
    assert TELEGRAM_TOKEN not in text and TELEGRAM_TOKEN.split(":")[1] not in text
    assert "<redacted>" in text and "OSError" in text
    other = made_up_token()  # any token-shaped text, not only the bot's own
    assert other.split(":")[1] not in redactor.redact(f"https://api.example/bot{other}/getMe")
    # aiogram logs an answer it cannot read in full, users' words and ids included.
    unreadable = logging.LogRecord(
        "aiogram.dispatcher", logging.ERROR, __file__, 1, "Failed to fetch updates - %s: %s",
        ("ClientDecodeError", "Failed to deserialize object\nCaused from error: ... "
         "input_value={'user': {'id': 7700000123}}\nContent: {'text': 'private words'}"), None)
    redactor.filter(unreadable)
    shown = unreadable.getMessage()
    assert "Failed to fetch updates" in shown
    assert "private words" not in shown and "7700000123" not in shown


def test_lesson_images_are_sent_and_only_from_inside_the_pack(
        tmp_path: Path, starter_copy: Path) -> None:
    from bot.settings import PackSetting, Settings
    from bot.stack import make_service
    from bot.telegram.gateway import Gateway, make_bot

    (starter_copy / "images").mkdir()
    (starter_copy / "images" / "step.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    settings = Settings(packs=[PackSetting(content=starter_copy)], root=ROOT,
                        build_dir=tmp_path / "build")
    tg = StandIn(TELEGRAM_TOKEN).start()
    chat = next(_users)

    async def scenario() -> None:
        service = make_service(settings, "http://127.0.0.1:9", None)
        bot = make_bot(TELEGRAM_TOKEN, tg.url)
        gateway = Gateway(settings, service, bot)
        await gateway.deliver(chat, [{"text": "Step 1", "image": "images/step.png"},
                                     {"text": "Step 2", "image": "../../../etc/passwd"},
                                     {"text": "Step 3", "image": "images/missing.png"}])
        await bot.session.close()

    try:
        asyncio.run(scenario())
        calls = [c.method for c in tg.since(0)]
    finally:
        tg.stop()
    assert calls == ["sendPhoto", "sendMessage", "sendMessage", "sendMessage"]


def test_payloads_longer_than_64_bytes_travel_by_a_short_key() -> None:
    from bot.stack import make_service
    from bot.telegram.gateway import Gateway, make_bot

    settings = load_settings(ROOT)

    async def scenario() -> None:
        bot = make_bot(TELEGRAM_TOKEN, "http://127.0.0.1:9")
        gateway = Gateway(settings, make_service(settings, "http://127.0.0.1:9", None), bot)
        long = '/open_lesson{"l":"' + "课" * 30 + '"}'  # 90 bytes in UTF-8
        markup = gateway.keyboard([{"title": "Open", "payload": long},
                                   {"title": "Menu", "payload": "/menu"}])
        assert markup is not None
        data = [row[0].callback_data for row in markup.inline_keyboard]
        assert data[1] == "/menu"  # short payloads go as they are
        assert data[0] is not None and len(data[0].encode()) <= 64
        assert gateway.resolve(data[0]) == long
        assert gateway.resolve("#unknown") is None  # an expired key: the menu, with a note
        await bot.session.close()

    asyncio.run(scenario())


# Class quizzes in a group ---------------------------------------------------------------------


def test_a_class_quiz_in_a_group_with_answers_in_private(stack: Running) -> None:
    tg = stack.telegram
    group, teacher = -(next(_users)), next(_users)
    pupils = [next(_users) for _ in range(3)]
    quiz = library().quizzes["children-online-and-help"]
    started = tg.mark()

    def in_group(mark: int) -> Call:
        return last_shown(tg.wait_for(mark, lambda calls: bool(shown(calls, group))), group)

    def press(user_id: int, data: str, chat: int) -> str | None:
        """Press a button; the toast the bot answered with."""
        mark = tg.mark()
        tg.push(press_update(user_id, data, chat_id=chat))
        calls = tg.wait_for(mark, lambda calls: any(
            c.method == "answerCallbackQuery" for c in calls))
        answer = next(c for c in calls if c.method == "answerCallbackQuery")
        return answer.params.get("text")

    mark = tg.mark()
    tg.push(text_update(teacher, "/classquiz", "en", chat_id=group, message_id=1))
    chooser = in_group(mark)
    assert f"cq:n:{quiz.id}" in buttons(chooser).values()
    assert press(pupils[0], f"cq:n:{quiz.id}", group) == (
        "Only the person who asked can choose the quiz.")
    mark = tg.mark()
    press(teacher, f"cq:n:{quiz.id}", group)
    lobby = in_group(mark)
    join_link = buttons(lobby)["Join"]
    assert join_link.startswith(f"https://t.me/{BOT_USERNAME}?start=c_")
    code = join_link.rsplit("c_", 1)[1]

    nicknames = []
    for pupil in pupils:
        mark = tg.mark()
        tg.push(text_update(pupil, f"/start c_{code}", "en"))
        welcome = last_shown(tg.wait_for(mark, lambda calls, p=pupil: bool(shown(calls, p))),
                             pupil)
        assert "only you see your answers" in visible(welcome)
        plain = re.sub(r"<[^>]+>", "", visible(welcome))
        nicknames.append(plain.split(" as ", 1)[1].split(". ", 1)[0])
    assert len(set(nicknames)) == 3  # made-up animal names, never the Telegram profile's
    assert not any("Pupil" in n for n in nicknames)

    assert press(pupils[0], f"cq:x:{code}", group) == (
        "Only the teacher who started the quiz can do this.")
    for index in range(2):
        question = quiz.questions[index]
        mark = tg.mark()
        press(teacher, f"cq:x:{code}", group)

        def asked(calls: list[Call]) -> bool:
            return bool(shown(calls, group)) and all(shown(calls, p) for p in pupils)

        calls = tg.wait_for(mark, asked)
        assert f"Question {index + 1} of {len(quiz.questions)}" in visible(
            last_shown(calls, group))
        private = last_shown(calls, pupils[0])
        assert f"{index + 1}/{len(quiz.questions)}" in visible(private)
        right = question.correct_options()
        wrong = [n for n in range(len(question.options)) if n not in right][:1]
        mark = tg.mark()
        for pupil, choice in zip(pupils, (right, wrong, right), strict=True):
            if question.type == "multiple":
                for option in choice:
                    press(pupil, f"cq:t:{code}:{index}:{option}", pupil)
                assert press(pupil, f"cq:d:{code}:{index}:0", pupil) == (
                    "Answer sent. Wait for the others …")
            else:
                assert press(pupil, f"cq:a:{code}:{index}:{choice[0]}", pupil) == (
                    "Answer sent. Wait for the others …")
        # Everyone answered, so the question closed: each pupil hears how they did, privately.
        feedback = tg.wait_for(mark, lambda calls: all(
            any("Right!" in visible(c) or "Not quite." in visible(c) for c in shown(calls, p))
            for p in pupils))
        assert any("✅ Right!" in visible(c) for c in shown(feedback, pupils[0]))
        assert any("❌ Not quite." in visible(c) for c in shown(feedback, pupils[1]))
        assert press(pupils[1], f"cq:a:{code}:{index}:0", pupils[1]) == (
            "You have already answered this question.")  # and it is not counted again

    mark = tg.mark()
    press(teacher, f"cq:e:{code}", group)
    results = tg.wait_for(mark, lambda calls: bool(shown(calls, group)) and all(
        any("The quiz is over" in visible(c) for c in shown(calls, p)) for p in pupils))
    board = re.sub(r"<[^>]+>", "", visible(last_shown(results, group)))
    assert board.startswith("Results:") and "3 pupils took part." in board
    assert board.index(nicknames[0]) < board.index(nicknames[1])  # 2 right beat 0 right

    # The teacher's report goes to their private chat, once they have opened one.
    assert press(pupils[0], f"cq:r:{code}", group) == (
        "Only the teacher who started the quiz can do this.")
    assert press(teacher, f"cq:r:{code}", group) == (
        "Open a private chat with SafeSteps and press Start there, then press this button "
        "again.")
    tg.push(text_update(teacher, "/start", "en"))
    assert press(teacher, f"cq:r:{code}", group) == (
        "The report is in your private chat with SafeSteps.")
    (document,) = [c for c in tg.since(started, "sendDocument") if c.status == 200]
    assert int(document.params["chat_id"]) == teacher
    uploaded = [v for k, v in document.params.items() if k.endswith(":content")]
    report = uploaded[0].decode("utf-8-sig").splitlines()
    assert report[0].startswith("Rank,Nickname,Score") and len(report) == 1 + 3 + 2

    to_group = shown(tg.since(started), group)
    # The group saw: the quiz list, the lobby, one message per question and the results.
    assert len(to_group) == 5
    assert not any("✅" in visible(c) or "❌" in visible(c) for c in to_group)
    times = [c.at for c in to_group]
    gaps = [round(b - a, 2) for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 2.9, f"at most 20 messages a minute in a group: {gaps}"
    with sqlite3.connect(ROOT / "build" / "var" / "classroom.sqlite") as db:
        stored = db.execute("SELECT COUNT(*), SUM(correct) FROM answers WHERE code = ?",
                            (code,)).fetchone()
    assert stored == (6, 4)  # every answer counted once, the second presses not at all
    no_refusals(tg)
