"""Abuse resistance: rate limits on the chat and classroom APIs (429 with Retry-After, danger
still answered), the teacher key beyond loopback, the cap on running class quizzes, and ended
sessions leaving memory. Real aiohttp servers, a real SQLite file; the assistant is down."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.chat.app import create_app
from bot.classroom import add_classroom
from bot.classroom.engine import ENDED_KEPT_SECONDS, Classroom
from bot.classroom.pages import host_refusal_texts, refusal_texts
from bot.classroom.store import ClassroomStore
from bot.content.library import ContentLibrary
from bot.i18n import Translator
from bot.limits import MAX_CLIENTS, RateLimit, is_loopback
from bot.settings import (
    CONFIG_ENV,
    ClassroomSettings,
    LimitsSettings,
    Settings,
    SettingsError,
    load_settings,
)
from bot.stack import make_service, teacher_key
from tests.conftest import ROOT, SHIPPED_LOCALES

DEAD_RASA = "http://127.0.0.1:9"
QUIZ = "children-safe-in-public"
DANGER = "they took my passport and lock the door of the dorm every night"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_lets_a_burst_through_then_says_how_long_to_wait() -> None:
    clock = Clock()
    limit = RateLimit(per_minute=30, burst=3, clock=clock)
    assert [limit.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limit.take("a") == pytest.approx(2.0)  # one message every 2 s
    assert limit.take("b") == 0.0  # another client has its own bucket
    clock.now += 2.0
    assert limit.take("a") == 0.0
    assert limit.take("a") > 0


def test_a_flood_of_new_clients_keeps_a_bounded_number_of_buckets() -> None:
    limit = RateLimit(per_minute=60, burst=1)
    for n in range(MAX_CLIENTS + 500):
        limit.take(f"client-{n}")
    assert len(limit.buckets) == MAX_CLIENTS
    assert "client-0" not in limit.buckets  # the oldest went first


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("localhost", True),
                                            ("::1", True), ("0.0.0.0", False),
                                            ("192.168.1.20", False), ("", False)])
def test_loopback_is_told_from_addresses_others_can_reach(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_the_teacher_key_is_needed_beyond_loopback_and_kept(tmp_path: Path) -> None:
    assert teacher_key("127.0.0.1", tmp_path, None) is None
    made = teacher_key("0.0.0.0", tmp_path, None)
    assert made and len(made) == 19
    assert teacher_key("0.0.0.0", tmp_path, None) == made
    assert (tmp_path / "teacher-key").stat().st_mode & 0o077 == 0
    assert teacher_key("127.0.0.1", tmp_path, " chosen-key ") == "chosen-key"


# The chat API ------------------------------------------------------------------------------

async def chat_client(limits: LimitsSettings) -> TestClient:  # type: ignore[type-arg]
    settings = load_settings(ROOT).model_copy(update={"limits": limits})
    return TestClient(TestServer(create_app(make_service(settings, DEAD_RASA, None))))


async def test_a_chat_client_past_its_limit_gets_429_with_retry_after() -> None:
    client = await chat_client(LimitsSettings(chat_per_user_per_minute=6, chat_user_burst=2))
    async with client:
        statuses = []
        for _ in range(3):
            resp = await client.post("/api/chat", json={"user": "u1", "text": "hello",
                                                        "locale": "en"})
            statuses.append(resp.status)
        body = await resp.json()
        other = await client.post("/api/chat", json={"user": "u2", "text": "hello"})
    assert statuses == [200, 200, 429]
    assert resp.headers["Retry-After"] == "10" and body["retry_after"] == 10
    assert body["reason"] == "rate_limited" and "wait 10 s" in body["error"]
    assert other.status == 200  # another conversation is not held back


async def test_danger_is_answered_even_past_the_limit() -> None:
    client = await chat_client(LimitsSettings(chat_per_user_per_minute=1, chat_user_burst=1))
    async with client:
        await client.post("/api/chat", json={"user": "u1", "text": "hello", "locale": "en"})
        resp = await client.post("/api/chat", json={"user": "u1", "text": DANGER,
                                                    "locale": "en"})
        body = await resp.json()
        hide = await client.post("/api/chat", json={"user": "u1", "text": "/hide"})
    assert resp.status == 200 and body["safety"] == "emergency"
    assert "110" in body["messages"][0]["text"]
    assert hide.status == 200  # quick exit can always hide the conversation


async def test_one_address_is_limited_across_its_conversations() -> None:
    client = await chat_client(LimitsSettings(chat_per_address_per_minute=60,
                                              chat_address_burst=3))
    async with client:
        statuses = [(await client.post("/api/chat", json={"user": f"u{n}", "text": "hi"})
                     ).status for n in range(4)]
    assert statuses == [200, 200, 200, 429]


@pytest.mark.parametrize("locale", SHIPPED_LOCALES)
def test_the_pages_say_slow_down_in_the_readers_language(locale: str) -> None:
    english = Translator("en").gettext
    for texts in (refusal_texts, host_refusal_texts):
        shown = texts(Translator(locale).gettext)["rate_limited"]
        assert shown and (locale == "en") == (shown == texts(english)["rate_limited"])


# The classroom API -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def library() -> ContentLibrary:
    return ContentLibrary.load(load_settings(ROOT))


class School:
    def __init__(self, client: TestClient, classroom: Classroom,  # type: ignore[type-arg]
                 clock: Clock) -> None:
        self.client, self.classroom, self.clock = client, classroom, clock

    async def create(self, key: str | None = None) -> tuple[int, dict[str, Any], Any]:
        headers = {"X-Teacher-Key": key} if key is not None else {}
        resp = await self.client.post("/api/classroom", headers=headers,
                                      data=json.dumps({"quiz": QUIZ, "locale": "en"}))
        return resp.status, await resp.json(), resp.headers


async def open_school(tmp_path: Path, library: ContentLibrary, key: str | None,
                      classroom_settings: ClassroomSettings, limits: LimitsSettings
                      ) -> AsyncIterator[School]:
    clock = Clock()
    settings = Settings(root=ROOT, classroom=classroom_settings, limits=limits)
    classroom = Classroom(settings.classroom, library, ClassroomStore(tmp_path / "c.sqlite"),
                          clock=clock)
    app = web.Application()
    add_classroom(app, settings, classroom, key)
    async with TestClient(TestServer(app)) as client:
        yield School(client, classroom, clock)


@pytest.fixture
async def keyed(tmp_path: Path, library: ContentLibrary) -> AsyncIterator[School]:
    async for school in open_school(
            tmp_path, library, "1a2b-3c4d-5e6f-7a8b",
            ClassroomSettings(database=tmp_path / "c.sqlite", max_live_sessions_per_key=2),
            LimitsSettings(creations_burst=50)):
        yield school


async def test_creating_a_class_quiz_needs_the_teacher_key(keyed: School) -> None:
    status, body, _ = await keyed.create()
    assert (status, body["reason"]) == (401, "teacher_key_missing")
    status, body, _ = await keyed.create("0000-0000-0000-0000")
    assert (status, body["reason"]) == (403, "teacher_key_wrong")
    status, body, _ = await keyed.create("1a2b-3c4d-5e6f-7a8b")
    assert status == 201 and body["host_token"]
    assert not keyed.classroom.sessions[body["code"]].owner.endswith("1a2b-3c4d-5e6f-7a8b")
    # Pupils need no key to join.
    joined = await keyed.client.post(f"/api/classroom/{body['code']}/join",
                                     json={"nickname": "Otter"})
    assert joined.status == 201


async def test_a_key_may_run_a_few_class_quizzes_at_once(keyed: School) -> None:
    key = "1a2b-3c4d-5e6f-7a8b"
    first = (await keyed.create(key))[1]
    assert (await keyed.create(key))[0] == 201
    status, body, _ = await keyed.create(key)
    assert (status, body["reason"]) == (429, "too_many_sessions")
    ended = await keyed.client.post(f"/api/classroom/{first['code']}/end",
                                    headers={"Authorization": f"Bearer {first['host_token']}"})
    assert ended.status == 200
    assert (await keyed.create(key))[0] == 201  # an ended quiz no longer counts


async def test_ended_sessions_leave_memory_and_come_back_from_the_store(
        keyed: School) -> None:
    key = "1a2b-3c4d-5e6f-7a8b"
    body = (await keyed.create(key))[1]
    code, token = body["code"], body["host_token"]
    await keyed.client.post(f"/api/classroom/{code}/join", json={"nickname": "Otter"})
    await keyed.client.post(f"/api/classroom/{code}/end",
                            headers={"Authorization": f"Bearer {token}"})
    assert keyed.classroom.forget_idle() == 0  # just ended: kept for the results screen
    keyed.clock.now += ENDED_KEPT_SECONDS + 1
    assert keyed.classroom.forget_idle() == 1 and code not in keyed.classroom.sessions
    results = await keyed.client.get(f"/api/classroom/{code}/results",
                                     headers={"Authorization": f"Bearer {token}"})
    assert results.status == 200
    assert [p["nickname"] for p in (await results.json())["players"]] == ["Otter"]


@pytest.fixture
async def tight(tmp_path: Path, library: ContentLibrary) -> AsyncIterator[School]:
    async for school in open_school(
            tmp_path, library, None, ClassroomSettings(database=tmp_path / "c.sqlite"),
            LimitsSettings(creations_per_minute=2, creations_burst=2,
                           classroom_per_address_per_minute=60, classroom_address_burst=6)):
        yield school


async def test_creations_past_the_limit_get_429_with_retry_after(tight: School) -> None:
    assert [(await tight.create())[0] for _ in range(2)] == [201, 201]
    status, body, headers = await tight.create()
    assert (status, body["reason"]) == (429, "rate_limited")
    assert headers["Retry-After"] == "30" and body["retry_after"] == 30


async def test_a_flood_of_classroom_requests_from_one_address_is_refused(
        tight: School) -> None:
    statuses = [(await tight.client.get("/api/quizzes?locale=en")).status for _ in range(7)]
    assert statuses == [200] * 6 + [429]
    resp = await tight.client.get("/api/classroom/123456")
    assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1


def test_another_settings_file_can_raise_the_limits(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    chosen = tmp_path / "scripted.yml"
    chosen.write_text("limits:\n  chat_user_burst: 500\n", encoding="utf-8")
    monkeypatch.setenv(CONFIG_ENV, str(chosen))
    settings = load_settings(ROOT)
    assert settings.limits.chat_user_burst == 500 and settings.root == ROOT
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "missing.yml"))
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(ROOT)
