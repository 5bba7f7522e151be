"""The classroom API without the assistant: a real SQLite file, the real aiohttp server.

A teacher's screen and pupils' phones are played through the HTTP contract in DESIGN.md; the
clock is the engine's own (moved forward by the tests for late answers and deadlines).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.classroom import add_classroom
from bot.classroom.engine import Classroom
from bot.classroom.store import MIGRATIONS, ClassroomStore, StoreError
from bot.content.library import ContentLibrary
from bot.settings import ClassroomSettings, Settings, load_settings
from tests.conftest import ROOT

LOCALES = ("zh-Hans", "en", "vi")
QUIZ = "children-safe-in-public"


@pytest.fixture(scope="module")
def library() -> ContentLibrary:
    return ContentLibrary.load(load_settings(ROOT))


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Room:
    client: TestClient  # type: ignore[type-arg]
    classroom: Classroom
    clock: Clock
    db: Path

    async def post(self, path: str, body: Any = None, token: str | None = None,
                   status: int = 200) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = body if isinstance(body, (str, bytes)) else json.dumps(body or {})
        resp = await self.client.post(path, data=data, headers=headers)
        answer = await resp.json()
        assert resp.status == status, answer
        return answer

    async def get(self, path: str, token: str | None = None, status: int = 200) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        resp = await self.client.get(path, headers=headers)
        assert resp.status == status, await resp.text()
        return await resp.json() if resp.content_type == "application/json" else await resp.text()

    async def create(self, status: int = 201, **body: Any) -> Any:
        return await self.post("/api/classroom", {"quiz": QUIZ, "locale": "en", **body},
                               status=status)

    async def join(self, code: str, nickname: str, status: int = 201) -> Any:
        return await self.post(f"/api/classroom/{code}/join", {"nickname": nickname},
                               status=status)


def open_room(tmp_path: Path, library: ContentLibrary, clock: Clock
              ) -> tuple[web.Application, Classroom]:
    settings = Settings(root=ROOT, classroom=ClassroomSettings(database=tmp_path / "c.sqlite"))
    classroom = Classroom(settings.classroom, library,
                          ClassroomStore(tmp_path / "c.sqlite"), clock=clock)
    app = web.Application()
    add_classroom(app, settings, classroom)
    return app, classroom


@pytest.fixture
async def room(tmp_path: Path, library: ContentLibrary) -> AsyncIterator[Room]:
    clock = Clock()
    app, classroom = open_room(tmp_path, library, clock)
    async with TestClient(TestServer(app)) as client:
        yield Room(client, classroom, clock, tmp_path / "c.sqlite")


def right_option(room: Room, code: str, index: int) -> int | list[int]:
    """The shown number(s) of the right option(s): what a pupil who knows would press."""
    session = room.classroom.sessions[code]
    question = session.quiz.questions[index]
    shown = sorted(session.shown_order(index).index(n) for n in question.correct_options())
    return shown if question.type == "multiple" else shown[0]


def wrong_option(room: Room, code: str, index: int) -> int:
    session = room.classroom.sessions[code]
    question = session.quiz.questions[index]
    right = {session.shown_order(index).index(n) for n in question.correct_options()}
    return min(set(range(len(session.shown_order(index)))) - right)


@pytest.mark.parametrize("locale", LOCALES)
async def test_quizzes_are_listed_in_each_language(room: Room, library: ContentLibrary,
                                                   locale: str) -> None:
    listed = await room.get(f"/api/quizzes?locale={locale}")
    assert {q["id"] for q in listed} == set(library.quizzes)
    quiz = library.quizzes[QUIZ]
    entry = next(q for q in listed if q["id"] == QUIZ)
    title = quiz.title[locale]
    assert entry["title"] == (title if isinstance(title, str) else title.text)
    assert entry == {**entry, "audience": quiz.audience, "questions": len(quiz.questions)}


async def test_a_whole_live_quiz_is_scored_and_reported(room: Room,
                                                        library: ContentLibrary) -> None:
    created = await room.create(seconds_per_question=30)
    code, token = created["code"], created["host_token"]
    assert len(code) == 6 and created["state"] == "lobby"
    assert created["join_url"].endswith(f"/join?code={code}")
    players = {name: (await room.join(code, name))["player_id"]
               for name in ("Panda", "Tiger", "Kite")}
    total = len(library.quizzes[QUIZ].questions)
    for index in range(total):
        opened = await room.post(f"/api/classroom/{code}/next", token=token)
        assert opened["question_index"] == index and opened["question"]["options"]
        room.clock.now += 3
        right, wrong = right_option(room, code, index), wrong_option(room, code, index)
        first = await room.post(f"/api/classroom/{code}/answer", {
            "player_id": players["Panda"], "question_index": index, "option": right})
        assert first["counted"] is True
        again = await room.post(f"/api/classroom/{code}/answer", {
            "player_id": players["Panda"], "question_index": index, "option": wrong})
        assert again["counted"] is False  # a repeat (a retry on a slow phone) is not counted
        if index % 2 == 0:
            await room.post(f"/api/classroom/{code}/answer", {
                "player_id": players["Tiger"], "question_index": index, "option": wrong})
        # Kite never answers, so the question stays open until the teacher moves on.
    ended = await room.post(f"/api/classroom/{code}/next", token=token)
    assert ended["state"] == "ended"

    results = await room.get(f"/api/classroom/{code}/results", token=token)
    scores = {p["nickname"]: p for p in results["players"]}
    assert scores["Panda"]["correct"] == total and scores["Panda"]["rank"] == 1
    assert scores["Panda"]["score"] == total * 950  # 3 s of 30: 500 + 500 × 0.9
    assert scores["Tiger"] == {**scores["Tiger"], "correct": 0, "score": 0,
                               "answered": (total + 1) // 2}
    assert scores["Kite"]["answered"] == 0
    for question in results["questions"]:
        expected = 2 if question["index"] % 2 == 0 else 1
        assert question["answers"] == expected
        assert question["correct_rate"] == round(1 / expected, 3)
    assert results["hardest"][0] == 0  # 50 % right, the lowest rate, first asked

    report = await room.get(f"/api/classroom/{code}/report.csv", token=token)
    rows = list(csv.reader(io.StringIO(report.lstrip("\ufeff"))))
    assert rows[0][:5] == ["Rank", "Nickname", "Score", "Right answers", "Answered"]
    assert [r[1] for r in rows[1:4]] == ["Panda", "Tiger", "Kite"]
    assert rows[1][5:] == ["right"] * total and rows[3][5:] == [""] * total
    assert rows[-1][1] == "Correct rate" and rows[-1][5] == "50%"

    late = await room.join(code, "Latecomer", status=410)
    assert late["reason"] == "ended"


async def test_the_question_closes_when_everyone_has_answered(room: Room) -> None:
    created = await room.create()
    code, token = created["code"], created["host_token"]
    pupils = [(await room.join(code, n))["player_id"] for n in ("A1", "B1")]
    await room.post(f"/api/classroom/{code}/next", token=token)
    for pupil in pupils:
        await room.post(f"/api/classroom/{code}/answer", {
            "player_id": pupil, "question_index": 0, "option": right_option(room, code, 0)})
    view = await room.get(f"/api/classroom/{code}?player={pupils[0]}")
    assert view["state"] == "review"
    assert view["you"] == {**view["you"], "answered": True, "right": True, "rank": 1}
    right = right_option(room, code, 0)
    assert view["correct_options"] == (right if isinstance(right, list) else [right])
    assert view["explanation"]


async def test_late_and_out_of_turn_answers_are_refused(room: Room) -> None:
    created = await room.create(seconds_per_question=10)
    code, token = created["code"], created["host_token"]
    pupil = (await room.join(code, "Early"))["player_id"]
    other = (await room.join(code, "Other"))["player_id"]
    early = await room.post(f"/api/classroom/{code}/answer", {
        "player_id": pupil, "question_index": 0, "option": 0}, status=409)
    assert early["reason"] == "out_of_turn"  # the quiz has not started
    await room.post(f"/api/classroom/{code}/next", token=token)
    ahead = await room.post(f"/api/classroom/{code}/answer", {
        "player_id": pupil, "question_index": 1, "option": 0}, status=409)
    assert ahead["reason"] == "out_of_turn"
    room.clock.now += 11  # past the bell and its half-second grace
    late = await room.post(f"/api/classroom/{code}/answer", {
        "player_id": pupil, "question_index": 0, "option": 0}, status=409)
    assert late == {"error": "time is up for this question", "reason": "late"}
    await room.post(f"/api/classroom/{code}/pause", token=token, status=409)  # time is up
    await room.post(f"/api/classroom/{code}/next", token=token)
    await room.post(f"/api/classroom/{code}/pause", token=token)
    paused = await room.post(f"/api/classroom/{code}/answer", {
        "player_id": other, "question_index": 1, "option": 0}, status=409)
    assert paused["reason"] == "paused"
    room.clock.now += 100  # a long pause does not eat the pupils' time
    resumed = await room.post(f"/api/classroom/{code}/resume", token=token)
    assert resumed["state"] == "question" and resumed["seconds_left"] == 10
    counted = await room.post(f"/api/classroom/{code}/answer", {
        "player_id": other, "question_index": 1, "option": 0})
    assert counted["counted"] is True
    results = await room.get(f"/api/classroom/{code}/results", token=token)
    assert [q["answers"] for q in results["questions"][:2]] == [0, 1]


async def test_host_actions_need_the_host_token(room: Room) -> None:
    first = await room.create()
    second = await room.create()
    code = first["code"]
    for path in ("next", "pause", "end"):
        missing = await room.post(f"/api/classroom/{code}/{path}", status=401)
        assert missing["reason"] == "host_token_missing"
        wrong = await room.post(f"/api/classroom/{code}/{path}", token=second["host_token"],
                                status=403)
        assert wrong["reason"] == "host_token_wrong"
    await room.get(f"/api/classroom/{code}/results", status=401)
    await room.get(f"/api/classroom/{code}/report.csv", token="x" * 32, status=403)
    resp = await room.client.delete(f"/api/classroom/{code}")
    assert resp.status == 401
    assert (await room.get(f"/api/classroom/{code}"))["state"] == "lobby"  # nothing changed
    for unknown in ("000000", "12ab", "9" * 40):
        gone = await room.post(f"/api/classroom/{unknown}/join", {"nickname": "Sam"},
                               status=404)
        assert gone["reason"] == "unknown_code"
    await room.post("/api/classroom/000000/next", token=first["host_token"], status=404)


@pytest.mark.parametrize(("nickname", "status", "reason"), [
    ("x" * 200, 400, "nickname_long"),
    ("", 400, "nickname_empty"),
    ("   \u200b\u202e ", 400, "nickname_empty"),
    ("Mai 0912 345 678", 400, "nickname_personal"),
    ("Call me 13800138000", 400, "nickname_personal"),
    ("Tom2012", 400, "nickname_personal"),
    ("kid@mail.com", 400, "nickname_personal"),
    ("@lan_handle", 400, "nickname_personal"),
    ("www.example.org", 400, "nickname_personal"),
    ("=HYPERLINK(1)", 400, "nickname_symbol"),
    ("ｐａｎｄａ", 409, "nickname_taken"),  # full-width letters are the same nickname
    ("PANDA", 409, "nickname_taken"),
])
async def test_nicknames_carry_no_personal_details(room: Room, nickname: str, status: int,
                                                   reason: str) -> None:
    code = (await room.create())["code"]
    await room.join(code, "panda")
    refused = await room.join(code, nickname, status=status)
    assert refused["reason"] == reason and refused["error"]
    assert len(room.classroom.sessions[code].players) == 1  # nothing half-joined


async def test_good_nicknames_are_kept_as_typed(room: Room) -> None:
    code = (await room.create())["code"]
    for nickname in ("小熊猫", "Bé Mèo", "Team 5B", "🐼 Panda"):
        joined = await room.join(code, nickname)
        assert joined["nickname"] == nickname


@pytest.mark.parametrize(("body", "reason"), [
    ("{not json", "bad_request"),
    ("[1, 2]", "bad_request"),
    ({"question_index": "0", "option": 0}, "bad_request"),
    ({"question_index": 0, "option": 99}, "bad_option"),
    ({"question_index": 0, "option": True}, "bad_option"),
    ({"question_index": 0, "option": [0, 1]}, "bad_option"),  # a single-answer question
    ({"question_index": 0, "option": None}, "bad_option"),
    ({"question_index": -1, "option": 0}, "bad_request"),
])
async def test_malformed_answers_get_a_clear_error(room: Room, body: Any, reason: str) -> None:
    created = await room.create()
    code = created["code"]
    pupil = (await room.join(code, "Sam"))["player_id"]
    await room.post(f"/api/classroom/{code}/next", token=created["host_token"])
    if isinstance(body, dict):
        body = {"player_id": pupil, **body}
    refused = await room.post(f"/api/classroom/{code}/answer", body, status=400)
    assert refused["reason"] == reason
    assert room.classroom.sessions[code].answers.get(0, {}) == {}


@pytest.mark.parametrize(("body", "reason"), [
    ({"quiz": "no-such-quiz"}, "unknown_quiz"),
    ({"quiz": QUIZ, "seconds_per_question": 1}, "bad_request"),
    ({"quiz": QUIZ, "seconds_per_question": "20"}, "bad_request"),
    ({"quiz": QUIZ, "mode": "exam"}, "bad_request"),
    ({"quiz": QUIZ, "shuffle": "yes"}, "bad_request"),
    ({"quiz": QUIZ, "mode": "homework", "hours": 0}, "bad_request"),
])
async def test_bad_sessions_are_refused(room: Room, body: dict[str, Any], reason: str) -> None:
    refused = await room.post("/api/classroom", body, status=400)
    assert refused["reason"] == reason
    with sqlite3.connect(room.db) as db:
        assert db.execute("SELECT COUNT(*) FROM sessions").fetchone() == (0,)


async def test_an_unknown_player_cannot_answer(room: Room) -> None:
    created = await room.create()
    other = await room.create()
    stranger = (await room.join(other["code"], "Sam"))["player_id"]
    await room.post(f"/api/classroom/{created['code']}/next", token=created["host_token"])
    for player in (stranger, "made-up", 12):
        refused = await room.post(f"/api/classroom/{created['code']}/answer", {
            "player_id": player, "question_index": 0, "option": 0}, status=404)
        assert refused["reason"] == "unknown_player"


async def test_shuffled_options_are_scored_by_what_the_pupil_saw(room: Room,
                                                                 library: ContentLibrary) -> None:
    created = await room.create(shuffle=True, quiz="teens-online-and-friends")
    code, token = created["code"], created["host_token"]
    session = room.classroom.sessions[code]
    quiz = library.quizzes["teens-online-and-friends"]
    assert any(session.shown_order(n) != sorted(session.shown_order(n))
               for n in range(len(quiz.questions)) if quiz.questions[n].type != "true-false")
    pupil = (await room.join(code, "Sam"))["player_id"]
    for index, question in enumerate(quiz.questions):
        opened = await room.post(f"/api/classroom/{code}/next", token=token)
        labels = session.shown_order(index)
        if question.type != "true-false":
            shown = [question.options[n]["en"] for n in labels]
            assert opened["question"]["options"] == [
                t if isinstance(t, str) else t.text for t in shown]
        picks = sorted(labels.index(n) for n in question.correct_options())
        await room.post(f"/api/classroom/{code}/answer", {
            "player_id": pupil, "question_index": index,
            "option": picks if question.type == "multiple" else picks[0]})
    results = await room.get(f"/api/classroom/{code}/results", token=token)
    assert results["players"][0]["correct"] == len(quiz.questions)


async def test_homework_at_each_pupils_pace_until_the_deadline(room: Room,
                                                               library: ContentLibrary) -> None:
    created = await room.create(mode="homework", hours=48)
    code, token = created["code"], created["host_token"]
    assert created["state"] == "open" and created["deadline"] == round(room.clock.now + 48 * 3600)
    pupil = (await room.join(code, "Sam"))["player_id"]
    await room.post(f"/api/classroom/{code}/next", token=token, status=409)  # no live questions
    total = len(library.quizzes[QUIZ].questions)
    for index in range(total):
        asked = await room.get(f"/api/classroom/{code}/question?player={pupil}")
        assert asked["question_index"] == index and asked["total"] == total
        skipped = await room.post(f"/api/classroom/{code}/answer", {
            "player_id": pupil, "question_index": index + 1, "option": 0},
            status=409 if index + 1 < total else 400)
        assert skipped["reason"] in ("out_of_turn", "bad_request")
        result = await room.post(f"/api/classroom/{code}/answer", {
            "player_id": pupil, "question_index": index,
            "option": right_option(room, code, index)})
        assert result["correct"] is True and result["points"] == 1000
        assert result["explanation"] and result["correct_options"]
    done = await room.get(f"/api/classroom/{code}/question?player={pupil}")
    assert done == {"finished": True, "score": total * 1000, "correct": total, "total": total}
    room.clock.now += 49 * 3600
    late = await room.join(code, "Late", status=410)
    assert late["reason"] == "ended"
    results = await room.get(f"/api/classroom/{code}/results", token=token)
    assert results["state"] == "ended" and results["players"][0]["correct"] == total


async def test_results_survive_a_restart(tmp_path: Path, library: ContentLibrary) -> None:
    clock = Clock()
    app, classroom = open_room(tmp_path, library, clock)
    async with TestClient(TestServer(app)) as client:
        room = Room(client, classroom, clock, tmp_path / "c.sqlite")
        created = await room.create()
        code, token = created["code"], created["host_token"]
        pupil = (await room.join(code, "Sam"))["player_id"]
        await room.join(code, "Kim")
        await room.post(f"/api/classroom/{code}/next", token=token)
        await room.post(f"/api/classroom/{code}/answer", {
            "player_id": pupil, "question_index": 0, "option": right_option(room, code, 0)})
        before = await room.get(f"/api/classroom/{code}/results", token=token)
    app, classroom = open_room(tmp_path, library, clock)  # `safesteps up` again
    async with TestClient(TestServer(app)) as client:
        room = Room(client, classroom, clock, tmp_path / "c.sqlite")
        assert await room.get(f"/api/classroom/{code}/results", token=token) == before
        again = await room.post(f"/api/classroom/{code}/answer", {
            "player_id": pupil, "question_index": 0, "option": 0})
        assert again["counted"] is False
        opened = await room.post(f"/api/classroom/{code}/next", token=token)
        assert opened["question_index"] == 1


async def test_deleting_a_session_deletes_its_answers(room: Room) -> None:
    created = await room.create()
    code, token = created["code"], created["host_token"]
    pupil = (await room.join(code, "Sam"))["player_id"]
    await room.post(f"/api/classroom/{code}/next", token=token)
    await room.post(f"/api/classroom/{code}/answer", {
        "player_id": pupil, "question_index": 0, "option": 0})
    resp = await room.client.delete(f"/api/classroom/{code}",
                                    headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200
    with sqlite3.connect(room.db) as db:
        counts = [db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                  for t in ("sessions", "players", "answers")]
    assert counts == [0, 0, 0]
    await room.get(f"/api/classroom/{code}", status=404)


async def test_sessions_past_the_retention_period_are_deleted(room: Room) -> None:
    old = await room.create()
    room.clock.now += 29 * 86400
    recent = await room.create()
    room.clock.now += 2 * 86400  # the first is 31 days old, the second 2
    assert room.classroom.purge() == 1
    await room.get(f"/api/classroom/{old['code']}", status=404)
    await room.get(f"/api/classroom/{recent['code']}")


async def test_screens_follow_the_quiz_live(room: Room) -> None:
    created = await room.create(seconds_per_question=5)
    code, token = created["code"], created["host_token"]
    pupil = (await room.join(code, "Sam"))["player_id"]
    await room.join(code, "Kim")
    unauthorized = await room.client.get(f"/api/classroom/{code}/host-events")
    assert unauthorized.status == 401
    host = await room.client.get(f"/api/classroom/{code}/host-events",
                                 headers={"Authorization": f"Bearer {token}"})
    pupil_stream = await room.client.get(f"/api/classroom/{code}/events?player={pupil}")
    assert host.headers["Content-Type"] == "text/event-stream"

    async def next_view(stream: Any) -> dict[str, Any]:
        while True:
            line = await asyncio.wait_for(stream.content.readline(), 10)
            if line.startswith(b"data: "):
                return json.loads(line[6:])  # type: ignore[no-any-return]

    assert (await next_view(host))["nicknames"] == ["Sam", "Kim"]
    assert (await next_view(pupil_stream))["you"]["nickname"] == "Sam"
    room.clock.now = __import__("time").time()  # the bell rings on the real clock
    await room.post(f"/api/classroom/{code}/next", token=token)
    asked = await next_view(pupil_stream)
    assert asked["state"] == "question" and "correct_options" not in asked
    await room.post(f"/api/classroom/{code}/answer", {
        "player_id": pupil, "question_index": 0, "option": 0})
    view = await next_view(host)
    while view.get("answered") != 1:
        view = await next_view(host)
    assert sum(view["distribution"]) == 1
    # Kim does not answer: the timer closes the question after 5 s without the teacher.
    closed = await next_view(pupil_stream)
    assert closed["state"] == "review" and closed["you"]["answered"] is True
    assert closed["correct_options"] and closed["explanation"]
    host.close()
    pupil_stream.close()


def test_the_schema_is_migrated_once_and_refuses_a_newer_file(tmp_path: Path) -> None:
    path = tmp_path / "classroom.sqlite"
    ClassroomStore(path).close()
    ClassroomStore(path).close()  # opening again runs nothing twice
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (len(MIGRATIONS),)
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(StoreError, match="newer SafeSteps"):
        ClassroomStore(path)
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreError, match=r"classroom\.database"):
        ClassroomStore(tmp_path / "file" / "classroom.sqlite")


async def test_an_oversized_body_is_refused_with_json(room: Room) -> None:
    code = (await room.create())["code"]
    huge = io.BytesIO(json.dumps({"nickname": "x" * 2_000_000}).encode())
    resp = await room.client.post(f"/api/classroom/{code}/join", data=huge)
    assert resp.status == 413
    assert (await resp.json())["reason"] == "too_large"
    assert room.classroom.sessions[code].players == {}
