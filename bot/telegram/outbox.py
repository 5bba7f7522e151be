"""The send queue: every call to Telegram that shows something goes through here.

Telegram's flood limits (about 1 message a second per private chat, 20 a minute per group, 30 a
second for the whole bot) are kept by token buckets. Each chat has its own queue and worker, so
the order of a chat's messages is kept and a slow chat does not hold up the others. A 429 answer
is waited out (``retry_after``) and the same call is made again; safety replies go to the front
of their chat's queue.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiogram.exceptions import TelegramAPIError, TelegramNetworkError, TelegramRetryAfter

from bot.settings import TelegramSettings

log = logging.getLogger("safesteps.telegram")

MAX_ATTEMPTS = 6
REMEMBERED_BUCKETS = 20_000
NETWORK_BACKOFF_SECONDS = (0.5, 1, 2, 4, 8)


@dataclass
class Bucket:
    """A token bucket that hands out waiting times (it may go into debt for queued calls)."""

    rate: float  # tokens per second
    capacity: float
    tokens: float = 0.0
    stamp: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = self.capacity

    def reserve(self) -> float:
        """Take one token; the seconds to wait before using it."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        self.tokens -= 1
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate


@dataclass
class Job:
    call: Callable[[], Awaitable[Any]]
    done: asyncio.Future[Any]
    counted: bool  # shows a message (rate-limited per chat) or only tidies (deletes, answers)


@dataclass
class ChatQueue:
    urgent: deque[Job] = field(default_factory=deque)
    normal: deque[Job] = field(default_factory=deque)
    bucket: Bucket | None = None
    worker: asyncio.Task[None] | None = None

    def pop(self) -> Job | None:
        if self.urgent:
            return self.urgent.popleft()
        if self.normal:
            return self.normal.popleft()
        return None


class Outbox:
    """Queues calls per chat; ``send`` returns the call's result, or None if Telegram refused."""

    def __init__(self, settings: TelegramSettings) -> None:
        self.settings = settings
        self.chats: dict[int, ChatQueue] = {}
        self.buckets: OrderedDict[int, Bucket] = OrderedDict()
        self.overall = Bucket(settings.messages_per_second, capacity=1.0)
        self.retries = 0  # 429 answers waited out, for tests and benchmarks

    def _bucket(self, chat_id: int) -> Bucket:
        """The chat's bucket. It outlives the chat's queue: a queue ends when it is empty, but
        the next message to the chat must still count the ones just sent."""
        bucket = self.buckets.get(chat_id)
        if bucket is not None:
            self.buckets.move_to_end(chat_id)
            return bucket
        if chat_id < 0:  # groups and channels have negative ids
            bucket = Bucket(self.settings.group_messages_per_minute / 60, capacity=1.0)
        else:
            bucket = Bucket(self.settings.private_messages_per_second, capacity=3.0)
        self.buckets[chat_id] = bucket
        while len(self.buckets) > REMEMBERED_BUCKETS:
            # The least recently used chat; by now its bucket has long refilled.
            self.buckets.popitem(last=False)
        return bucket

    async def send(self, chat_id: int, call: Callable[[], Awaitable[Any]], *,
                   urgent: bool = False, counted: bool = True) -> Any:
        loop = asyncio.get_running_loop()
        job = Job(call, loop.create_future(), counted)
        queue = self.chats.get(chat_id)
        if queue is None:
            queue = self.chats[chat_id] = ChatQueue(bucket=self._bucket(chat_id))
        (queue.urgent if urgent else queue.normal).append(job)
        if queue.worker is None or queue.worker.done():
            queue.worker = asyncio.ensure_future(self._drain(chat_id, queue))
        return await job.done

    async def _drain(self, chat_id: int, queue: ChatQueue) -> None:
        while (job := queue.pop()) is not None:
            try:
                result = await self._attempt(queue, job)
            except Exception as err:  # never let one call stop the chat's queue
                log.warning("telegram: a call failed (%s)", type(err).__name__)
                result = None
            if not job.done.done():
                job.done.set_result(result)
        if self.chats.get(chat_id) is queue and not queue.urgent and not queue.normal:
            del self.chats[chat_id]

    async def _attempt(self, queue: ChatQueue, job: Job) -> Any:
        for attempt in range(MAX_ATTEMPTS):
            wait = self.overall.reserve()
            if job.counted and queue.bucket is not None:
                wait = max(wait, queue.bucket.reserve())
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                return await job.call()
            except TelegramRetryAfter as err:
                self.retries += 1
                log.info("telegram: flood limit, waiting %s s before sending again",
                         err.retry_after)
                await asyncio.sleep(err.retry_after)
            except TelegramNetworkError:
                if attempt >= len(NETWORK_BACKOFF_SECONDS):
                    break
                await asyncio.sleep(NETWORK_BACKOFF_SECONDS[attempt])
            except TelegramAPIError as err:
                # A refusal that sending again will not fix (a blocked bot, a message too old
                # to delete): logged by kind, never with the text or the chat.
                log.info("telegram: call refused (%s)", type(err).__name__)
                return None
        log.warning("telegram: gave up a call after %d attempts", MAX_ATTEMPTS)
        return None
