"""The send queue on its own: Telegram's limits, 429s, order per chat, safety first."""

from __future__ import annotations

import asyncio
import itertools
import time

from aiogram.exceptions import TelegramBadRequest, TelegramRetryAfter
from aiogram.methods import SendMessage

from bot.settings import TelegramSettings
from bot.telegram.outbox import Outbox

FAST = TelegramSettings(private_messages_per_second=20, group_messages_per_minute=600,
                        messages_per_second=1000)


def test_a_chats_messages_keep_their_order_and_danger_goes_first() -> None:
    sent: list[str] = []

    async def scenario() -> None:
        outbox = Outbox(TelegramSettings(private_messages_per_second=5))

        async def send(text: str) -> str:
            sent.append(text)
            return text

        normal = [asyncio.ensure_future(outbox.send(7, lambda t=f"m{n}": send(t)))
                  for n in range(6)]
        await asyncio.sleep(0)
        urgent = asyncio.ensure_future(outbox.send(7, lambda: send("danger"), urgent=True))
        await asyncio.gather(*normal, urgent)

    asyncio.run(scenario())
    # m0-m2 use the burst allowance at once; the danger reply overtakes the waiting ones.
    assert sent.index("danger") <= 4
    assert [m for m in sent if m != "danger"] == [f"m{n}" for n in range(6)]


def test_the_per_chat_limit_is_kept() -> None:
    stamps: list[float] = []

    async def scenario() -> None:
        outbox = Outbox(TelegramSettings(private_messages_per_second=10))

        async def send() -> None:
            stamps.append(time.monotonic())

        await asyncio.gather(*(outbox.send(1, send) for _ in range(13)))

    asyncio.run(scenario())
    # A burst of 3, then one every 0.1 s: 10 more take at least 0.9 s.
    assert stamps[-1] - stamps[0] >= 0.9


def test_the_group_limit_holds_for_messages_sent_one_after_another() -> None:
    """A class quiz sends to its group now and then, never in one batch: each message must
    still wait for the ones before it (the chat's queue empties in between)."""
    stamps: list[float] = []

    async def scenario() -> None:
        outbox = Outbox(TelegramSettings(group_messages_per_minute=120))  # one per 0.5 s

        async def send() -> None:
            stamps.append(time.monotonic())

        for _ in range(4):
            await outbox.send(-100, send)
            await asyncio.sleep(0.05)

    asyncio.run(scenario())
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert min(gaps) >= 0.45, gaps


def test_a_429_is_waited_out_and_the_same_call_made_again() -> None:
    attempts: list[float] = []

    async def scenario() -> str | None:
        outbox = Outbox(FAST)

        async def send() -> str:
            attempts.append(time.monotonic())
            if len(attempts) == 1:
                raise TelegramRetryAfter(SendMessage(chat_id=1, text="x"), "Too Many Requests",
                                         retry_after=1)
            return "sent"

        result: str | None = await outbox.send(1, send)
        assert outbox.retries == 1
        return result

    assert asyncio.run(scenario()) == "sent"
    assert len(attempts) == 2 and attempts[1] - attempts[0] >= 1.0


def test_a_refused_call_does_not_block_the_chat() -> None:
    async def scenario() -> list[object]:
        outbox = Outbox(FAST)

        async def refused() -> None:
            raise TelegramBadRequest(SendMessage(chat_id=1, text="x"), "message is too long")

        async def fine() -> str:
            return "ok"

        return list(await asyncio.gather(outbox.send(1, refused), outbox.send(1, fine)))

    assert asyncio.run(scenario()) == [None, "ok"]
