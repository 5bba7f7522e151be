"""The classroom's HTTP API on the chat API server (contract in DESIGN.md), with live updates as
server-sent events: one stream for the host screen (behind the host token) and one for pupils.

Every refusal is JSON ``{"error": ..., "reason": ...}``: ``error`` says what to do in plain
English, ``reason`` is a stable key the pages show in the pupil's language.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import io
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import segno
from aiohttp import web

from bot.classroom.engine import Classroom, ClassroomError, Session, hash_token
from bot.limits import RateLimit, client_address, retry_after
from bot.settings import LimitsSettings

log = logging.getLogger("safesteps.classroom")

HOST_UPDATE_SECONDS = 0.1   # the host screen gets at most ten updates a second
KEEPALIVE_SECONDS = 15.0    # a comment line keeps proxies and phones from dropping the stream

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CLASSROOM = web.AppKey("classroom", Classroom)


class RateLimited(ClassroomError):
    """429: this client sends too many requests; ``seconds`` until the next one may go."""

    def __init__(self, seconds: str) -> None:
        super().__init__(429, "rate_limited",
                         f"too many requests from this device: wait {seconds} s and try again")
        self.seconds = seconds


def refused(err: ClassroomError) -> web.Response:
    body: dict[str, object] = {"error": err.message, "reason": err.reason}
    headers = {}
    if isinstance(err, RateLimited):
        body["retry_after"] = int(err.seconds)
        headers["Retry-After"] = err.seconds
    return web.json_response(body, status=err.status, headers=headers)


def api(handler: Handler) -> Handler:
    """Turn ClassroomError (and an unreadable body) into a JSON refusal, never a 500 page."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ClassroomError as err:
            return refused(err)
        except web.HTTPRequestEntityTooLarge:
            return refused(ClassroomError(413, "too_large", "the body is too large"))

    return wrapped


async def json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        return {}
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ClassroomError(400, "bad_request", "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ClassroomError(400, "bad_request", "send a JSON object")
    return body


def join_url(request: web.Request, public_url: str | None, code: str) -> str:
    base = (public_url or f"{request.scheme}://{request.host}").rstrip("/")
    return f"{base}/join?code={code}"


def add_classroom_api(app: web.Application, classroom: Classroom,
                      public_url: str | None = None, teacher_key: str | None = None,
                      limits: LimitsSettings | None = None) -> None:
    """``teacher_key``: creating a class quiz needs it (header X-Teacher-Key) when set."""
    app[CLASSROOM] = classroom
    limits = limits or LimitsSettings()
    per_address = RateLimit(limits.classroom_per_address_per_minute,
                            limits.classroom_address_burst)
    creations = RateLimit(limits.creations_per_minute, limits.creations_burst)

    def slow_down(wait: float) -> RateLimited:
        return RateLimited(retry_after(wait))

    def owner_of(request: web.Request) -> str:
        """Who creates: the teacher key when one is needed, else the client's address."""
        given = request.headers.get("X-Teacher-Key", "").strip()
        if teacher_key is not None:
            if not given:
                raise ClassroomError(401, "teacher_key_missing",
                                     "creating a class quiz needs the teacher key (header "
                                     "X-Teacher-Key): `make run` prints it")
            if not hmac.compare_digest(hash_token(given), hash_token(teacher_key)):
                raise ClassroomError(403, "teacher_key_wrong", "this teacher key is wrong")
            return "key:" + hash_token(given)
        return "address:" + hash_token(client_address(request, limits.trust_forwarded_for))

    def limited(handler: Handler) -> Handler:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            wait = per_address.take(client_address(request, limits.trust_forwarded_for))
            if wait:
                return refused(slow_down(wait))
            return await handler(request)
        return wrapped

    def session_of(request: web.Request) -> Session:
        return classroom.get(request.match_info["code"])

    def hosted(request: web.Request) -> Session:
        session = session_of(request)
        classroom.authorize(session, request.headers.get("Authorization"))
        return session

    @api
    async def quizzes(request: web.Request) -> web.StreamResponse:
        return web.json_response(classroom.quizzes(request.query.get("locale")))

    @api
    async def create(request: web.Request) -> web.StreamResponse:
        owner = owner_of(request)
        wait = creations.take(owner)
        if wait:
            raise slow_down(wait)
        body = await json_body(request)
        session, token = classroom.create(
            body.get("quiz"), body.get("locale"), body.get("seconds_per_question"),
            body.get("shuffle", False), body.get("mode", "live"), body.get("hours"),
            owner=owner)
        return web.json_response({
            "code": session.code, "host_token": token, "join_url":
            join_url(request, public_url, session.code), **classroom.host_view(session)},
            status=201)

    @api
    async def join(request: web.Request) -> web.StreamResponse:
        session = session_of(request)
        body = await json_body(request)
        player = classroom.join(session, body.get("nickname"))
        return web.json_response({"player_id": player.id, "nickname": player.nickname,
                                  **classroom.pupil_view(session, player)}, status=201)

    def host_action(action: Callable[[Session], Any]) -> Handler:
        @api
        async def handler(request: web.Request) -> web.StreamResponse:
            session = hosted(request)
            await json_body(request)
            result = action(session)
            return web.json_response(result if isinstance(result, dict)
                                     else classroom.host_view(session))
        return handler

    @api
    async def answer(request: web.Request) -> web.StreamResponse:
        session = session_of(request)
        body = await json_body(request)
        result = classroom.answer(session, body.get("player_id"), body.get("question_index"),
                                  body.get("option"))
        return web.json_response(result)

    @api
    async def state(request: web.Request) -> web.StreamResponse:
        session = session_of(request)
        player_id = request.query.get("player")
        player = classroom.player(session, player_id) if player_id else None
        return web.json_response(classroom.pupil_view(session, player, classroom.ranks(session)))

    @api
    async def homework(request: web.Request) -> web.StreamResponse:
        session = session_of(request)
        player = classroom.player(session, request.query.get("player"))
        return web.json_response(classroom.homework_question(session, player))

    @api
    async def results(request: web.Request) -> web.StreamResponse:
        return web.json_response(classroom.results(hosted(request)))

    @api
    async def report(request: web.Request) -> web.StreamResponse:
        session = hosted(request)
        return web.Response(
            body=("\ufeff" + classroom.report_csv(session)).encode("utf-8"),
            content_type="text/csv", charset="utf-8",
            headers={"Content-Disposition":
                     f'attachment; filename="safesteps-{session.quiz.id}-{session.code}.csv"',
                     "Cache-Control": "no-store"})

    @api
    async def delete(request: web.Request) -> web.StreamResponse:
        classroom.delete(hosted(request))
        return web.json_response({"deleted": True})

    @api
    async def qr(request: web.Request) -> web.StreamResponse:
        session = session_of(request)
        svg = io.BytesIO()  # a whole SVG document (with its namespace), as an image needs
        segno.make(join_url(request, public_url, session.code), error="m").save(
            svg, kind="svg", scale=1, border=2, dark="#000", light="#fff", omitsize=True,
            xmldecl=False, svgns=True)
        return web.Response(body=svg.getvalue(), content_type="image/svg+xml",
                            headers={"Cache-Control": "no-store"})

    @api
    async def host_events(request: web.Request) -> web.StreamResponse:
        session = hosted(request)
        return await stream(request, session, host=True)

    @api
    async def pupil_events(request: web.Request) -> web.StreamResponse:
        session = session_of(request)
        player_id = request.query.get("player")
        if player_id:
            classroom.player(session, player_id)
        return await stream(request, session, host=False, player_id=player_id)

    async def stream(request: web.Request, session: Session, host: bool,
                     player_id: str | None = None) -> web.StreamResponse:
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-store",
            "X-Accel-Buffering": "no"})
        await response.prepare(request)
        queue = classroom.watch(session, host)
        try:
            alive = True
            while alive and session.code in classroom.sessions:
                started = time.perf_counter()
                if host:
                    view = classroom.host_view(session)
                else:
                    player = session.players.get(player_id) if player_id else None
                    ranks = classroom.ranks(session) if player is not None else None
                    view = classroom.pupil_view(session, player, ranks)
                await response.write(
                    b"data: " + json.dumps(view, ensure_ascii=False).encode() + b"\n\n")
                log.debug("classroom: screen updated in %.1f ms",
                          (time.perf_counter() - started) * 1000)
                if host:
                    await asyncio.sleep(HOST_UPDATE_SECONDS)
                while True:
                    try:
                        alive = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                        break
                    except asyncio.TimeoutError:
                        await response.write(b": still here\n\n")
            if session.code not in classroom.sessions:
                await response.write(b'data: {"state": "deleted"}\n\n')
        except ConnectionResetError:
            pass  # the screen was closed
        finally:
            classroom.unwatch(session, queue)
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await response.write_eof()
        return response

    base = "/api/classroom/{code}"
    app.router.add_get("/api/quizzes", limited(quizzes))
    app.router.add_post("/api/classroom", limited(create))
    app.router.add_post(base + "/join", limited(join))
    app.router.add_post(base + "/answer", limited(answer))
    app.router.add_post(base + "/next", limited(host_action(classroom.next)))
    app.router.add_post(base + "/close", limited(host_action(classroom.close)))
    app.router.add_post(base + "/pause", limited(host_action(classroom.pause)))
    app.router.add_post(base + "/resume", limited(host_action(classroom.resume)))
    app.router.add_post(base + "/end", limited(host_action(classroom.end)))
    app.router.add_get(base, limited(state))
    app.router.add_delete(base, limited(delete))
    app.router.add_get(base + "/question", limited(homework))
    app.router.add_get(base + "/results", limited(results))
    app.router.add_get(base + "/report.csv", limited(report))
    app.router.add_get(base + "/qr.svg", limited(qr))
    app.router.add_get(base + "/events", limited(pupil_events))
    app.router.add_get(base + "/host-events", limited(host_events))
