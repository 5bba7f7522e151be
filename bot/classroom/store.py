"""Where classroom sessions, players and answers are kept: a SQLite file (path in config.yml).

The schema is versioned: each migration runs once, in order, and ``PRAGMA user_version`` records
how far a file has come, so an older database is brought up to date when SafeSteps starts.
Deleting a session deletes its players and answers (foreign keys with ON DELETE CASCADE).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DAY_SECONDS = 24 * 60 * 60

MIGRATIONS: tuple[str, ...] = (
    # 1: sessions, players, answers.
    """
    CREATE TABLE sessions (
        code TEXT PRIMARY KEY,
        quiz_id TEXT NOT NULL,
        locale TEXT NOT NULL,
        mode TEXT NOT NULL CHECK (mode IN ('live', 'homework')),
        host_token_hash TEXT NOT NULL,
        seconds_per_question INTEGER NOT NULL,
        shuffle INTEGER NOT NULL,
        option_orders TEXT NOT NULL,
        state TEXT NOT NULL,
        question_index INTEGER NOT NULL DEFAULT -1,
        question_opened_at REAL,
        deadline REAL,
        paused_remaining REAL,
        origin TEXT NOT NULL DEFAULT 'web',
        created_at REAL NOT NULL,
        ended_at REAL
    );
    CREATE TABLE players (
        id TEXT PRIMARY KEY,
        code TEXT NOT NULL REFERENCES sessions (code) ON DELETE CASCADE,
        nickname TEXT NOT NULL,
        joined_at REAL NOT NULL
    );
    CREATE UNIQUE INDEX players_nickname ON players (code, nickname COLLATE NOCASE);
    CREATE TABLE answers (
        code TEXT NOT NULL REFERENCES sessions (code) ON DELETE CASCADE,
        player_id TEXT NOT NULL REFERENCES players (id) ON DELETE CASCADE,
        question_index INTEGER NOT NULL,
        options TEXT NOT NULL,
        correct INTEGER NOT NULL,
        points INTEGER NOT NULL,
        elapsed_ms INTEGER NOT NULL,
        answered_at REAL NOT NULL,
        PRIMARY KEY (code, player_id, question_index)
    );
    CREATE INDEX sessions_created ON sessions (created_at);
    """,
)


class StoreError(Exception):
    """The classroom database cannot be used (the message says what to do)."""


@dataclass
class SessionRow:
    code: str
    quiz_id: str
    locale: str
    mode: str
    host_token_hash: str
    seconds_per_question: int
    shuffle: bool
    option_orders: list[list[int]]
    state: str
    question_index: int
    question_opened_at: float | None
    deadline: float | None
    paused_remaining: float | None
    origin: str
    created_at: float
    ended_at: float | None


@dataclass(frozen=True)
class PlayerRow:
    id: str
    nickname: str
    joined_at: float


@dataclass(frozen=True)
class AnswerRow:
    player_id: str
    question_index: int
    options: tuple[int, ...]
    correct: bool
    points: int
    elapsed_ms: int


_SESSION_FIELDS = ("code", "quiz_id", "locale", "mode", "host_token_hash",
                   "seconds_per_question", "shuffle", "option_orders", "state", "question_index",
                   "question_opened_at", "deadline", "paused_remaining", "origin", "created_at",
                   "ended_at")


def _session_from(row: sqlite3.Row) -> SessionRow:
    values = dict(zip(_SESSION_FIELDS, row, strict=True))
    values["shuffle"] = bool(values["shuffle"])
    values["option_orders"] = json.loads(values["option_orders"])
    return SessionRow(**values)


class ClassroomStore:
    """One connection, used from the event loop: each statement takes well under a millisecond
    (WAL journal, synchronous=NORMAL), so the loop is never held up for long."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path, timeout=10, isolation_level=None,
                                      check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self.migrate()
        except (OSError, sqlite3.Error) as err:
            raise StoreError(f"The classroom database {path} cannot be opened ({err}). Check "
                             "classroom.database in config.yml and that the folder is "
                             "writable.") from None

    def close(self) -> None:
        self.db.close()

    @property
    def version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> None:
        """Run the migrations this file has not had yet, each in its own transaction."""
        current = self.version
        if current > len(MIGRATIONS):
            raise StoreError(f"{self.path} was written by a newer SafeSteps (schema "
                             f"{current}; this one knows {len(MIGRATIONS)}). Upgrade SafeSteps.")
        for number, script in enumerate(MIGRATIONS[current:], start=current + 1):
            with self.transaction():
                for statement in filter(str.strip, script.split(";")):
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {int(number)}")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # Sessions

    def add_session(self, row: SessionRow) -> None:
        values: dict[str, Any] = {**row.__dict__, "shuffle": int(row.shuffle),
                                  "option_orders": json.dumps(row.option_orders)}
        self.db.execute(
            f"INSERT INTO sessions ({', '.join(_SESSION_FIELDS)}) "  # noqa: S608 (fixed names)
            f"VALUES ({', '.join(':' + f for f in _SESSION_FIELDS)})", values)

    def code_in_use(self, code: str) -> bool:
        return self.db.execute("SELECT 1 FROM sessions WHERE code = ?", (code,)).fetchone() \
            is not None

    def session(self, code: str) -> SessionRow | None:
        row = self.db.execute(
            f"SELECT {', '.join(_SESSION_FIELDS)} FROM sessions WHERE code = ?",  # noqa: S608
            (code,)).fetchone()
        return _session_from(row) if row else None

    def save_state(self, row: SessionRow) -> None:
        self.db.execute(
            "UPDATE sessions SET state = ?, question_index = ?, question_opened_at = ?, "
            "deadline = ?, paused_remaining = ?, ended_at = ? WHERE code = ?",
            (row.state, row.question_index, row.question_opened_at, row.deadline,
             row.paused_remaining, row.ended_at, row.code))

    def delete_session(self, code: str) -> bool:
        return self.db.execute("DELETE FROM sessions WHERE code = ?", (code,)).rowcount > 0

    def purge(self, days: int, now: float | None = None) -> int:
        """Delete sessions created more than ``days`` ago, with their players and answers."""
        cutoff = (time.time() if now is None else now) - days * DAY_SECONDS
        return self.db.execute("DELETE FROM sessions WHERE created_at < ?", (cutoff,)).rowcount

    # Players and answers

    def add_player(self, code: str, player: PlayerRow) -> bool:
        """False when the nickname is taken in this session."""
        try:
            self.db.execute("INSERT INTO players (id, code, nickname, joined_at) "
                            "VALUES (?, ?, ?, ?)",
                            (player.id, code, player.nickname, player.joined_at))
        except sqlite3.IntegrityError:
            return False
        return True

    def players(self, code: str) -> list[PlayerRow]:
        return [PlayerRow(*row) for row in self.db.execute(
            "SELECT id, nickname, joined_at FROM players WHERE code = ? ORDER BY joined_at",
            (code,))]

    def add_answer(self, code: str, answer: AnswerRow, at: float) -> bool:
        """False when this player has already answered this question (it is not counted)."""
        try:
            self.db.execute(
                "INSERT INTO answers (code, player_id, question_index, options, correct, points, "
                "elapsed_ms, answered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (code, answer.player_id, answer.question_index, json.dumps(answer.options),
                 int(answer.correct), answer.points, answer.elapsed_ms, at))
        except sqlite3.IntegrityError:
            return False
        return True

    def answers(self, code: str) -> list[AnswerRow]:
        return [AnswerRow(player, index, tuple(json.loads(options)), bool(correct), points,
                          elapsed)
                for player, index, options, correct, points, elapsed in self.db.execute(
                    "SELECT player_id, question_index, options, correct, points, elapsed_ms "
                    "FROM answers WHERE code = ?", (code,))]
