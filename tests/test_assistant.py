"""Conversations with the real stack: Rasa 3.6 server, rasa-sdk action server, chat API.

The model is trained once per fingerprint (cached in build/models); the stack is started with
`safesteps up` on free ports, as a user would start it. The last test stops Rasa on purpose.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from bot.content.library import ContentLibrary
from bot.settings import load_settings
from tests.assistant_stack import Running
from tests.conftest import CANARY, ROOT, SHIPPED_LOCALES

pytestmark = pytest.mark.assistant

NOT_YOUR_FAULT = {"en": "not your fault", "zh-Hans": "这不是你的错", "vi": "không phải lỗi của bạn"}
# The emergency reply to someone who reports another person tells them what to do instead.
WHAT_TO_DO_NOW = {"en": "What to do now:", "zh-Hans": "现在就这样做：", "vi": "Việc cần làm ngay:"}
WHAT_TO_DO = {"en": "What would you like to do?", "zh-Hans": "你想做什么？",
              "vi": "Bạn muốn làm gì?"}


@cache
def library() -> ContentLibrary:
    return ContentLibrary.load(load_settings(ROOT))


def texts(messages: list[dict[str, Any]]) -> str:
    return "\n".join(m.get("text", "") for m in messages)


def payloads(messages: list[dict[str, Any]]) -> list[str]:
    return [b["payload"] for m in messages for b in m.get("buttons", [])]


def is_emergency(messages: list[dict[str, Any]], locale: str, number: str = "110") -> bool:
    text = texts(messages)
    spoken_to = NOT_YOUR_FAULT[locale] in text or WHAT_TO_DO_NOW[locale] in text
    return number in text and spoken_to and "/resume" in payloads(messages)


def test_rasa_data_validate_passes_on_the_generated_project() -> None:
    result = subprocess.run([sys.executable, "-m", "bot", "build"], cwd=ROOT,
                            capture_output=True, text=True, check=False, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "rasa data validate: OK." in result.stderr


def _listening_addresses(port: int) -> set[str]:
    """Addresses with a listening TCP socket on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.rsplit(":", 1)
            if state == "0A" and int(port_hex, 16) == port:
                found.add(address)
    return found


def test_rasa_and_the_action_server_listen_on_loopback_only(stack: Running) -> None:
    for name in ("rasa", "action"):
        addresses = _listening_addresses(stack.ports[name])
        assert addresses == {"0100007F"}, (name, addresses)  # 127.0.0.1, nothing else


def test_health_says_ready(stack: Running) -> None:
    import urllib.request

    with urllib.request.urlopen(f"{stack.url}/healthz") as response:
        assert response.status == 200


@pytest.mark.parametrize("locale", SHIPPED_LOCALES)
def test_greeting_shows_the_menu_and_the_emergency_number(stack: Running, locale: str) -> None:
    user = stack.new_user()
    messages = stack.chat(user, "/greet", locale=locale)
    assert WHAT_TO_DO[locale] in texts(messages)
    assert "110" in texts(messages)  # China is the default country
    assert {"/lessons", "/quiz", "/find_hotline", "/change_language"} <= set(payloads(messages))


@pytest.mark.parametrize("locale", SHIPPED_LOCALES)
def test_typed_greeting_and_faq_are_understood(stack: Running, locale: str) -> None:
    from bot.assistant.kit import load_kit_examples
    from bot.content.problems import ProblemList

    user = stack.new_user()
    examples = load_kit_examples(ProblemList())[locale].intents
    assert WHAT_TO_DO[locale] in texts(stack.chat(user, examples["greet"][0], locale=locale))
    faq = library().faqs["what-is-trafficking"]
    reply = texts(stack.chat(user, faq.examples[locale][0], locale=locale))
    question = faq.question[locale]
    assert (question if isinstance(question, str) else question.text) in reply


@pytest.mark.parametrize("locale", SHIPPED_LOCALES)
def test_every_button_leads_somewhere_and_every_reply_offers_a_way_on(
        stack: Running, locale: str) -> None:
    """A crawler presses every button it meets, to full depth (each payload once), once as
    each audience, since who the user is changes what the menus offer."""
    fallback = "Sorry, I did not understand" if locale == "en" else None
    reached: set[str] = set()
    for audience in ("children", "teens", "parents", "educators"):
        user = stack.new_user()
        seen: set[str] = set()
        queue = ["/greet", f'/set_audience{{"audience":"{audience}"}}']
        pressed = 0
        while queue and pressed < 400:
            payload = queue.pop(0)
            if payload in seen or payload in ("/confirm_forget", "/hide"):
                continue
            seen.add(payload)
            messages = stack.chat(user, payload, locale=locale)
            pressed += 1
            assert messages, payload
            assert payloads(messages), f"{payload} leads to a reply without a way on"
            if fallback:
                assert fallback not in texts(messages), f"{payload} was not understood"
            for message in messages:
                assert message["text"].strip(), payload
            queue += [p for p in payloads(messages) if p not in seen
                      and not p.startswith("/set_audience")]
        reached |= seen
    seen = reached
    # Every lesson, quiz, country and language is reachable by buttons alone.
    opened = " ".join(seen)
    for lesson in library().lessons:
        assert f'"l":"{lesson}"' in opened, lesson
    for quiz in library().quizzes:
        assert f'"q":"{quiz}"' in opened, quiz
    for country in library().hotlines:
        assert f'"country":"{country}"' in opened, country
    for other in library().locales:
        assert f'"locale":"{other}"' in opened, other


@pytest.mark.parametrize("locale", SHIPPED_LOCALES)
def test_a_whole_lesson_by_buttons(stack: Running, locale: str) -> None:
    user = stack.new_user()
    lesson = library().lessons["children-stay-close-in-crowds"]
    first = stack.chat(user, '/open_lesson{"l":"children-stay-close-in-crowds"}', locale=locale)
    marker = {"en": "Step 1 of", "zh-Hans": "第 1 步", "vi": "Bước 1/"}[locale]
    assert marker in texts(first)
    messages = first
    for _ in range(len(lesson.steps)):
        messages = stack.chat(user, "/next")
    assert "/open_quiz" in " ".join(payloads(messages))
    # Back on the first step, Back stays there; reopening resumes where the user was.
    stack.chat(user, '/open_lesson{"l":"children-family-code-word"}')
    stack.chat(user, "/next")
    resumed = stack.chat(user, '/open_lesson{"l":"children-family-code-word"}')
    assert {"en": "Step 2 of", "zh-Hans": "第 2 步", "vi": "Bước 2/"}[locale] in texts(resumed)


def answer_all(stack: Running, user: str, first: list[dict[str, Any]], wrong_first: bool
               ) -> list[dict[str, Any]]:
    messages = first
    answered = 0
    while True:
        quiz = next((m["quiz"] for m in messages if "quiz" in m), None)
        if quiz is None:
            return messages
        correct = quiz["correct"]
        if wrong_first and answered == 0:
            options = range(len(quiz["options"]))
            correct = [next(n for n in options if n not in correct)]
        if quiz["type"] == "multiple":
            for n in correct:
                stack.chat(user, f'/answer{{"o":{n + 1}}}')
            stack.chat(user, '/answer{"o":0}')
        else:
            stack.chat(user, f'/answer{{"o":{correct[0] + 1}}}')
        answered += 1
        messages = stack.chat(user, "/next")


@pytest.mark.parametrize("locale", SHIPPED_LOCALES)
def test_a_whole_quiz_is_scored_and_missed_questions_can_be_retried(
        stack: Running, locale: str) -> None:
    user = stack.new_user()
    quiz = library().quizzes["teens-jobs-and-documents"]
    total = len(quiz.questions)
    first = stack.chat(user, '/open_quiz{"q":"teens-jobs-and-documents"}', locale=locale)
    summary = texts(answer_all(stack, user, first, wrong_first=True))
    expected = {"en": f"You got {total - 1} of {total} right",
                "zh-Hans": f"你答对了 {total - 1} 题，共 {total} 题",
                "vi": f"Bạn trả lời đúng {total - 1} trên {total} câu"}[locale]
    assert expected in summary
    retry = stack.chat(user, "/retry_missed")
    after = texts(answer_all(stack, user, retry, wrong_first=False))
    assert {"en": "You got 1 of 1 right", "zh-Hans": "你答对了 1 题，共 1 题",
            "vi": "Bạn trả lời đúng 1 trên 1 câu"}[locale] in after


@pytest.mark.parametrize(("country", "numbers"), [("CN", ["110", "12338"]),
                                                  ("VN", ["113", "111"])])
def test_hotlines_by_country(stack: Running, country: str, numbers: list[str]) -> None:
    user = stack.new_user()
    reply = texts(stack.chat(user, "/find_hotline", country=country, locale="en"))
    for number in numbers:
        assert number in reply


def test_vietnamese_speaker_in_china_gets_chinas_numbers_in_vietnamese_and_home_help(
        stack: Running) -> None:
    user = stack.new_user()
    reply = texts(stack.chat(user, "/find_hotline", country="CN", locale="vi"))
    assert "110" in reply and "Trung Quốc" in reply
    assert "111" in reply and "Việt Nam" in reply  # home-country help, in Vietnamese


def test_switching_language_changes_the_replies(stack: Running) -> None:
    user = stack.new_user()
    stack.chat(user, "/greet", locale="en")
    switched = stack.chat(user, '/set_locale{"locale":"vi"}')
    assert WHAT_TO_DO["vi"] in texts(switched)
    assert WHAT_TO_DO["vi"] in texts(stack.chat(user, "/menu"))


def _pseudonym(user: str) -> str:
    secret = (ROOT / "build" / "var" / "secret").read_bytes().strip()
    env = os.environ.get("SAFESTEPS_SECRET")
    key = env.encode() if env else secret
    return hmac.new(key, user.encode(), hashlib.sha256).hexdigest()[:32]


def _stored_events(sender: str) -> int:
    with sqlite3.connect(ROOT / "build" / "var" / "conversations.sqlite") as db:
        (n,) = db.execute("SELECT COUNT(*) FROM events WHERE sender_id = ?", (sender,)).fetchone()
    return int(n)


@pytest.mark.parametrize("first", ["xin chào", "/greet", "/menu"])
def test_the_first_turn_is_one_rasa_call_in_the_users_language(stack: Running,
                                                                first: str) -> None:
    """The locale and country travel with the message (typed, or a button's payload): Rasa
    sees one user message, and answers it in the user's language and country at once."""
    user = stack.new_user()
    answer = stack.chat(user, first, locale="vi", country="VN")
    assert WHAT_TO_DO["vi"] in texts(answer)
    if first != "/menu":  # the greeting shows the emergency number; the menu does not
        assert "113" in texts(answer)  # Viet Nam's police, not China's 110
    assert "/find_hotline" in payloads(answer)
    with sqlite3.connect(ROOT / "build" / "var" / "conversations.sqlite") as db:
        kinds = [kind for (kind,) in db.execute(
            "SELECT type_name FROM events WHERE sender_id = ?", (_pseudonym(user),))]
        # Written by SafeSteps' ConversationStore (Rasa falls back to keeping conversations
        # in memory, with a warning, when a custom store cannot be loaded).
        (journal,) = db.execute("PRAGMA journal_mode").fetchone()
    assert kinds.count("user") == 1
    assert journal == "wal"


def test_forget_me_deletes_the_conversation(stack: Running) -> None:
    user = stack.new_user()
    stack.chat(user, '/open_lesson{"l":"teens-helping-a-friend"}', locale="en")
    stack.chat(user, "/next")
    sender = _pseudonym(user)
    assert _stored_events(sender) > 0
    with sqlite3.connect(ROOT / "build" / "var" / "conversations.sqlite") as db:
        (raw_ids,) = db.execute("SELECT COUNT(*) FROM events WHERE sender_id = ? OR data LIKE ?",
                                (user, f"%{user}%")).fetchone()
    assert raw_ids == 0  # only the keyed pseudonym is stored
    confirm = stack.chat(user, "/forget_me")
    assert "/confirm_forget" in payloads(confirm)
    done = stack.chat(user, "/confirm_forget")
    assert "deleted" in texts(done)
    assert _stored_events(sender) == 0
    # The next message starts afresh: nothing about the user is left, not even the language.
    assert WHAT_TO_DO["zh-Hans"] in texts(stack.chat(user, "/menu"))
    assert WHAT_TO_DO["en"] in texts(stack.chat(user, "/menu", locale="en"))


def test_conversations_older_than_the_retention_limit_are_deleted(stack: Running) -> None:
    """`safesteps purge` (the chat API runs the same every hour) deletes old events only."""
    old, recent = stack.new_user(), stack.new_user()
    for user in (old, recent):
        stack.chat(user, '/open_lesson{"l":"teens-helping-a-friend"}', locale="en")
        stack.chat(user, "/next")
    # Make the first conversation 31 days old, as if it had happened then.
    with sqlite3.connect(ROOT / "build" / "var" / "conversations.sqlite") as db:
        db.execute("UPDATE events SET timestamp = timestamp - ? WHERE sender_id = ?",
                   (31 * 24 * 3600, _pseudonym(old)))
    purged = subprocess.run([sys.executable, "-m", "bot", "purge"], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    assert purged.returncode == 0, purged.stderr
    assert "older than 30 days" in purged.stdout
    assert _stored_events(_pseudonym(old)) == 0
    assert _stored_events(_pseudonym(recent)) > 0
    # The recent one goes on where it was; the old one starts afresh, with no error, in the
    # language its last turn came with (the chat API sends it with every message).
    assert "Step 3 of" in texts(stack.chat(recent, "/next"))
    assert "Step" not in texts(stack.chat(old, "/next"))
    assert WHAT_TO_DO["en"] in texts(stack.chat(old, "/menu"))


STATES = {
    "menu": "/menu",
    "mid-lesson": '/open_lesson{"l":"teens-too-good-to-be-true-jobs"}',
    "mid-quiz": '/open_quiz{"q":"children-safe-in-public"}',
}


def missed_in_every_state(stack: Running, user: str, locale: str, messages: list[str]
                          ) -> list[tuple[str, str]]:
    """The (state, message) pairs that did not get the emergency reply."""
    missed = []
    for state, opener in STATES.items():
        stack.chat(user, opener, locale=locale)
        for message in messages:
            if not is_emergency(stack.chat(user, message), locale):
                missed.append((state, message))
    return missed


@pytest.mark.parametrize("locale", SHIPPED_LOCALES)
def test_every_lexicon_entry_is_answered_in_every_state(stack: Running, locale: str) -> None:
    lexicon = library().lexicons[locale]
    entries = [*lexicon.words, *lexicon.phrases, *lexicon.misspellings, *lexicon.emoji]
    assert missed_in_every_state(stack, stack.new_user(), locale, entries) == []


@pytest.mark.parametrize("locale", SHIPPED_LOCALES)
def test_free_text_disclosures_are_answered_and_the_lesson_waits(
        stack: Running, locale: str) -> None:
    lexicon = library().lexicons[locale]
    from bot.assistant.kit import load_kit_examples
    from bot.content.problems import ProblemList

    disclosures = [*lexicon.examples.danger,
                   *load_kit_examples(ProblemList())[locale].intents["danger"]]
    user = stack.new_user()
    assert missed_in_every_state(stack, user, locale, disclosures) == []
    # The lesson paused: "continue where I was" shows the same step again.
    stack.chat(user, '/open_lesson{"l":"parents-report-at-once"}')
    stack.chat(user, "/next")
    stack.chat(user, disclosures[0])
    again = texts(stack.chat(user, "/resume"))
    assert {"en": "Step 2 of", "zh-Hans": "第 2 步", "vi": "Bước 2/"}[locale] in again


@pytest.mark.parametrize(("body", "expected_status"), [
    ({"user": "u", "text": ""}, 400),
    ({"user": "u", "text": "   \u200b  "}, 400),
    ({"user": "", "text": "hi"}, 400),
    ({"text": "hi"}, 400),
    ({"user": "u", "text": 42}, 400),
    ({"user": "u", "text": "hi", "country": "China"}, 400),
    ({"user": "u", "text": "hi", "locale": 7}, 400),
    (["not", "an", "object"], 400),
    ({"user": "u", "text": "x" * 10_000}, 200),
    ({"user": "u", "text": "<b>hi</b> & <script>alert(1)</script>"}, 200),
    ({"user": "u", "text": "\u202ehello\u202c \x00\x07"}, 200),
    ({"user": "u", "text": "hello", "locale": "xx-Unknown"}, 200),
])
def test_bad_input_gets_a_clear_answer_never_a_500(
        stack: Running, body: Any, expected_status: int) -> None:
    status, data = stack.post(body)
    assert status == expected_status, data
    if status == 400:
        assert data["error"]
    else:
        assert data["messages"] and all(m["text"] for m in data["messages"])


def test_invalid_json_and_huge_bodies_are_refused(stack: Running) -> None:
    status, data = stack.post(None, raw=b"{not json")
    assert (status, "not valid JSON" in data["error"]) == (400, True)
    status, data = stack.post(None, raw=json.dumps({"user": "u", "text": "a" * 70_000}).encode())
    assert status == 413 and "too large" in data["error"]


def test_user_text_never_reaches_the_logs(stack: Running) -> None:
    user = stack.new_user()
    stack.chat(user, f"my secret is {CANARY}", locale="en")
    stack.chat(user, f"help me {CANARY}", locale="en")  # the danger path too


def test_rasa_test_stories_pass(stack: Running) -> None:
    from bot.assistant.training import current_model, rasa_environment

    settings = load_settings(ROOT)
    model = current_model(settings)
    assert model is not None
    project = ROOT / "build" / "rasa"
    result = subprocess.run(
        [str(ROOT / ".venv-rasa" / "bin" / "rasa"), "test", "core", "--model", str(model),
         "--stories", "tests/test_stories.yml", "--fail-on-prediction-errors",
         "--out", str(ROOT / "build" / "reports" / "rasa-test")],
        cwd=project, env=rasa_environment(), capture_output=True, text=True, check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
