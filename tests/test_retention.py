"""Retention without the stack: the purge on a store that is missing, empty or in use."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from bot.chat.retention import DAY_SECONDS, purge_conversations

# The columns of Rasa 3.6's SQLTrackerStore that the purge relies on.
SCHEMA = ("CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id TEXT, type_name TEXT, "
          "timestamp FLOAT, intent_name TEXT, action_name TEXT, data TEXT)")


def _store(path: Path, rows: list[tuple[str, float]]) -> None:
    with sqlite3.connect(path) as db:
        db.execute(SCHEMA)
        db.executemany("INSERT INTO events (sender_id, type_name, timestamp, data) "
                       "VALUES (?, 'user', ?, '{}')", rows)


def test_nothing_stored_yet_is_not_an_error(tmp_path: Path) -> None:
    assert purge_conversations(tmp_path / "missing.sqlite", 30).events == 0
    sqlite3.connect(tmp_path / "empty.sqlite").close()  # a file with no table yet
    assert purge_conversations(tmp_path / "empty.sqlite", 30).events == 0


def test_old_events_go_and_recent_ones_stay(tmp_path: Path) -> None:
    now = time.time()
    db = tmp_path / "conversations.sqlite"
    _store(db, [("idle", now - 40 * DAY_SECONDS), ("idle", now - 35 * DAY_SECONDS),
                ("active", now - 31 * DAY_SECONDS), ("active", now - 2 * DAY_SECONDS),
                ("new", now)])
    purged = purge_conversations(db, 30, now=now)
    assert (purged.events, purged.conversations) == (3, 1)  # "idle" is gone entirely
    with sqlite3.connect(db) as connection:
        left = connection.execute("SELECT sender_id FROM events ORDER BY id").fetchall()
    assert left == [("active",), ("new",)]
    assert purge_conversations(db, 30, now=now).events == 0  # running again changes nothing


def test_the_written_policy_matches_the_configured_retention() -> None:
    from bot.settings import load_settings
    from tests.conftest import ROOT

    settings = load_settings(ROOT)
    days, class_days = settings.retention_days, settings.classroom.retention_days
    policy = (ROOT / "docs" / "privacy.md").read_text(encoding="utf-8")
    assert f"**{days} days** (`retention_days: {days}`)" in policy
    assert f"After {days} days, by itself" in policy
    assert f"**{class_days} days** after the quiz (`classroom.retention_days: {class_days}`)" \
        in policy
