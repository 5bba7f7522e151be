"""Live class quizzes and homework: the engine, its store, its HTTP API and pages."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web

from bot.classroom.api import add_classroom_api
from bot.classroom.engine import Classroom
from bot.classroom.pages import add_classroom_pages
from bot.classroom.store import ClassroomStore
from bot.content.library import ContentLibrary
from bot.settings import Settings

log = logging.getLogger("safesteps.classroom")

PURGE_EVERY_SECONDS = 60 * 60


def open_classroom(settings: Settings, library: ContentLibrary) -> Classroom:
    """The engine over the configured SQLite file (created and migrated if needed)."""
    store = ClassroomStore(settings.resolve(settings.classroom.database))
    return Classroom(settings.classroom, library, store)


def add_classroom(app: web.Application, settings: Settings, classroom: Classroom,
                  teacher_key: str | None = None) -> None:
    """The classroom's API and pages on the chat API server, with its retention job;
    with ``teacher_key``, creating a class quiz needs it."""
    add_classroom_api(app, classroom, settings.classroom.public_url, teacher_key,
                      settings.limits)
    add_classroom_pages(app, settings.classroom, classroom.library)

    async def purge_forever() -> None:
        while True:
            deleted = classroom.purge()
            if deleted:
                log.info("classroom: deleted %d session(s) past the retention period", deleted)
            classroom.forget_idle()
            await asyncio.sleep(PURGE_EVERY_SECONDS)

    tasks: list[asyncio.Future[None]] = []

    async def on_startup(app: web.Application) -> None:
        tasks.append(asyncio.ensure_future(purge_forever()))

    async def on_shutdown(app: web.Application) -> None:
        classroom.close_streams()

    async def on_cleanup(app: web.Application) -> None:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        classroom.store.close()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
