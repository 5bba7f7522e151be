"""Retention: what SafeSteps stores about a conversation is deleted after ``retention_days``.

The privacy notice promises it, so the chat API enforces it: once when it starts and then every
hour, every stored event (messages, progress, slots) older than the limit is deleted from the
conversation store. A conversation idle for longer than the limit disappears completely; an
active one keeps only its recent part (its progress from before the limit is gone too).
``safesteps purge`` does the same once, for a deployment that prefers cron.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("safesteps.retention")

DAY_SECONDS = 24 * 60 * 60
PURGE_EVERY_SECONDS = 60 * 60


@dataclass(frozen=True)
class Purged:
    events: int
    conversations: int


def purge_conversations(db: Path, days: int, now: float | None = None) -> Purged:
    """Delete every stored event older than ``days``; how many events and whole conversations."""
    if not db.is_file():
        return Purged(0, 0)
    cutoff = (time.time() if now is None else now) - days * DAY_SECONDS
    connection = sqlite3.connect(db, timeout=30)
    try:
        with connection:
            try:
                before = connection.execute(
                    "SELECT COUNT(DISTINCT sender_id) FROM events").fetchone()[0]
                deleted = connection.execute(
                    "DELETE FROM events WHERE timestamp < ?", (cutoff,)).rowcount
                after = connection.execute(
                    "SELECT COUNT(DISTINCT sender_id) FROM events").fetchone()[0]
            except sqlite3.OperationalError as err:
                if "no such table" in str(err):  # nothing stored yet
                    return Purged(0, 0)
                raise
    finally:
        connection.close()
    return Purged(deleted, before - after)


async def purge_forever(db: Path, days: int) -> None:
    """Purge now and then every hour, until cancelled; a failure is logged and retried."""
    while True:
        try:
            purged = await asyncio.to_thread(purge_conversations, db, days)
            if purged.events:
                log.info("retention: deleted %d stored events (%d whole conversations) older "
                         "than %d days", purged.events, purged.conversations, days)
        except sqlite3.Error as err:
            log.warning("retention: could not purge the conversation store (%s); "
                        "trying again in an hour", type(err).__name__)
        await asyncio.sleep(PURGE_EVERY_SECONDS)
