"""Every chat answer says which safety tier shaped it, and each tier reads as it should, with
the assistant down (the chat API answers danger from the packs it holds)."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.chat.app import ChatReply, ChatService, create_app
from bot.safety.layer import SafetyLayer
from bot.settings import SafetySettings, Settings, load_settings
from bot.stack import make_service
from tests.conftest import ROOT, SHIPPED_LOCALES

DEAD_RASA = "http://127.0.0.1:9"  # nothing listens there: the assistant is down
VICTIM = {"en": "they took my passport and lock the door of the dorm every night",
          "zh-Hans": "他们把我的护照收走了，每天晚上都锁门，不让我出去",
          "vi": "họ lấy hộ chiếu của em và khóa cửa mỗi tối, không cho em ra ngoài"}
PARENT = {"en": "my daughter is 13 and she has not come home since school, she was chatting "
                "with an older man online",
          "zh-Hans": "我女儿13岁，放学到现在还没回家，她之前一直在网上跟一个成年男人聊天",
          "vi": "con gái tôi 13 tuổi, tan học đến giờ vẫn chưa về, nó hay nhắn tin với một "
                "người đàn ông lớn tuổi trên mạng"}
EVERYDAY = {"en": "what is the capital of france", "zh-Hans": "今天天气怎么样",
            "vi": "hôm nay trời đẹp quá"}


@cache
def settings() -> Settings:
    return load_settings(ROOT)


def service(tiers: SafetySettings | None = None) -> ChatService:
    chosen = settings() if tiers is None else settings().model_copy(update={"safety": tiers})
    return make_service(chosen, DEAD_RASA, None)


async def answer(chat: ChatService, text: str, locale: str, country: str) -> ChatReply:
    await chat.rasa.start()
    try:
        return await chat.reply(f"user-{locale}", text, locale, country)
    finally:
        await chat.rasa.close()


def text_of(messages: list[dict[str, Any]]) -> str:
    return "\n".join(m["text"] for m in messages)


@pytest.mark.parametrize("locale", SHIPPED_LOCALES)
async def test_a_person_in_danger_hears_they_are_not_in_trouble(locale: str) -> None:
    chat = service()
    reply = await answer(chat, VICTIM[locale], locale, "CN")
    assert reply.safety == "emergency"
    render = chat.safety.renderer(locale)
    text = text_of(reply.messages)
    assert text.index("110") < 80  # the emergency number comes first
    assert render.translator("You are not in trouble, and it is not your fault.") in text
    assert "/safe_to_talk" in [b["payload"] for b in reply.messages[0]["buttons"]]


@pytest.mark.parametrize("locale", SHIPPED_LOCALES)
async def test_a_worried_parent_hears_what_to_do_now(locale: str) -> None:
    chat = service()
    reply = await answer(chat, PARENT[locale], locale, "VN")
    assert reply.safety == "emergency"
    render = chat.safety.renderer(locale)
    text = text_of(reply.messages)
    assert "113" in text  # Viet Nam's police
    assert render.translator("What to do now:") in text
    assert render.translator("You are not in trouble, and it is not your fault.") not in text


@pytest.mark.parametrize("locale", SHIPPED_LOCALES)
async def test_an_unsure_reading_adds_one_calm_line_with_the_number(locale: str) -> None:
    probe = SafetyLayer.for_chat(service().library, settings())
    message = EVERYDAY[locale]
    score = probe.assess(message, locale).score
    # Thresholds around this message's own score put it in the check-in tier.
    tiers = SafetySettings(emergency_score=min(1.0, score + 0.01),
                           check_in_score=max(1e-9, score / 2), lexicon_floor=0.0)
    reply = await answer(service(tiers), message, locale, "CN")
    assert reply.safety == "check_in"
    first = reply.messages[0]
    assert "110" in first["text"] and first["buttons"][0]["payload"] == "/find_hotline"
    # The normal answer (here the apology, the assistant being down) follows.
    assert len(reply.messages) >= 2 and "/menu" in json.dumps(reply.messages[1:])


@pytest.mark.parametrize("locale", SHIPPED_LOCALES)
async def test_everyday_messages_carry_no_safety_tier_through_the_api(locale: str) -> None:
    app = create_app(service())
    async with TestClient(TestServer(app)) as client:
        everyday = await client.post("/api/chat", json={
            "user": "u1", "text": EVERYDAY[locale], "locale": locale})
        danger = await client.post("/api/chat", json={
            "user": "u2", "text": VICTIM[locale], "locale": locale})
        body, urgent = await everyday.json(), await danger.json()
    assert everyday.status == 200 and body["safety"] is None
    assert body["messages"] and "/find_hotline" in json.dumps(body["messages"])
    assert urgent["safety"] == "emergency"


async def test_a_very_long_message_is_read_in_full_for_danger() -> None:
    story = ("We moved to the city last spring and I started a new school. " * 140 +
             "Now the man who brought me here took my passport and locks me in at night.")
    assert len(story) > 8000
    app = create_app(service())
    async with TestClient(TestServer(app)) as client:
        response = await client.post("/api/chat", json={"user": "u3", "text": story,
                                                        "locale": "en"})
        body = await response.json()
    assert response.status == 200 and body["safety"] == "emergency"
