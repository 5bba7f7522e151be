"""The chat API: the one door every front end (web chat, Telegram, tests, benchmarks) uses.

Every message meets the safety layer first; danger is answered from the packs in memory, even
when Rasa or the action server is down. User ids become keyed pseudonyms before they reach Rasa
or storage. No user text, id or secret is ever logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import re
import secrets
import sqlite3
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.chat.retention import purge_forever
from bot.content.library import ContentLibrary
from bot.limits import RateLimit, client_address, too_many
from bot.safety.layer import Assessment, SafetyLayer, Tier
from bot.settings import Settings

log = logging.getLogger("safesteps.chat")

MAX_BODY_BYTES = 64 * 1024
MAX_USER_CHARS = 256
COUNTRY = re.compile(r"^[A-Za-z]{2}$")
# A button's payload: "/intent" with, optionally, its entities as a JSON object.
PAYLOAD = re.compile(r"^/(\w+)(\{.*\})?$", re.DOTALL)
_CONTROL = dict.fromkeys(c for c in range(32) if chr(c) not in "\n\t")


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def kept_secret(path: Path, make: Callable[[], str]) -> str:
    """The secret kept in ``path``; the first time (or if the file is empty), one made with
    ``make`` and written there, readable by its owner only."""
    if path.is_file() and (kept := path.read_text().strip()):
        return kept
    path.parent.mkdir(parents=True, exist_ok=True)
    made = make()
    path.touch(mode=0o600)
    path.write_text(made + "\n")
    return made


def load_secret(var_dir: Path, from_env: str | None) -> bytes:
    """The pseudonym key: SAFESTEPS_SECRET, else one generated once and kept in var_dir."""
    if from_env:
        return from_env.encode()
    return kept_secret(var_dir / "secret", lambda: secrets.token_hex(32)).encode()


@dataclass
class UserContext:
    """What the chat API remembers of a conversation (in memory, under the pseudonym)."""

    locale: str
    country: str
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one turn at a time
    assistant_saw_danger: bool = False  # set by the assistant's danger intent, per turn


@dataclass(frozen=True)
class ChatReply:
    """The messages of one turn and the safety tier that shaped them, so that every channel
    can put an emergency first."""

    messages: list[dict[str, Any]]
    safety: Tier | None = None


@dataclass
class RasaClient:
    """Talks to the Rasa server's REST channel and, with a token, its HTTP API.

    Backpressure: at most ``concurrency`` turns are with Rasa at once; the others wait their
    turn here, in the order they came, and ``timeout`` starts only when a turn is sent."""

    url: str
    token: str | None
    timeout: float
    concurrency: int = 4
    session: aiohttp.ClientSession | None = None
    _slots: asyncio.Semaphore | None = None

    async def start(self) -> None:
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        self._slots = asyncio.Semaphore(self.concurrency)

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def send(self, sender: str, message: str, metadata: dict[str, str] | None = None
                   ) -> list[dict[str, Any]]:
        """The bot's messages, or RasaUnavailable (down, slow, 5xx, or nothing to say).
        ``metadata`` (the conversation's locale and country) travels with the message."""
        assert self.session is not None
        assert self._slots is not None
        body: dict[str, Any] = {"sender": sender, "message": message}
        if metadata:
            body["metadata"] = metadata
        try:
            async with self._slots, self.session.post(
                    f"{self.url}/webhooks/rest/webhook", json=body) as resp:
                if resp.status != 200:
                    raise RasaUnavailable(f"status {resp.status}")
                data = await resp.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as err:
            raise RasaUnavailable(type(err).__name__) from None
        if not isinstance(data, list):
            raise RasaUnavailable("unexpected reply")
        return [m for m in data if isinstance(m, dict)]

    async def intent(self, message: str) -> str | None:
        """The NLU's reading of ``message`` alone (no dialogue, no action server), or None."""
        assert self.session is not None
        params = {"token": self.token} if self.token else {}
        try:
            async with self.session.post(f"{self.url}/model/parse", params=params,
                                         json={"text": message},
                                         timeout=aiohttp.ClientTimeout(total=3)) as resp:
                if resp.status != 200:
                    return None
                data = await resp.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            return None
        intent = data.get("intent") if isinstance(data, dict) else None
        name = intent.get("name") if isinstance(intent, dict) else None
        return name if isinstance(name, str) else None

    async def answers(self, url: str) -> bool:
        """True when ``url`` (another part's health address) answers 200."""
        assert self.session is not None
        try:
            async with self.session.get(url, timeout=aiohttp.ClientTimeout(total=3)) as resp:
                return resp.status == 200
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return False

    async def ready(self) -> bool:
        """True when the server answers and has a model loaded."""
        assert self.session is not None
        params = {"token": self.token} if self.token else {}
        try:
            async with self.session.get(f"{self.url}/status", params=params) as resp:
                if resp.status != 200:
                    return False
                data = await resp.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            return False
        return bool(isinstance(data, dict) and data.get("model_file"))


class RasaUnavailable(Exception):
    pass


@dataclass
class ChatService:
    """The conversation logic behind /api/chat, usable without HTTP (shell, Telegram)."""

    settings: Settings
    library: ContentLibrary
    rasa: RasaClient
    secret: bytes
    safety: SafetyLayer = field(init=False)
    contexts: OrderedDict[str, UserContext] = field(default_factory=OrderedDict)
    tracker_db: Path | None = None
    actions_url: str | None = None  # the action server's health address, for /healthz

    def __post_init__(self) -> None:
        self.safety = SafetyLayer.for_chat(self.library, self.settings)

    def pseudonym(self, user: str) -> str:
        return hmac.new(self.secret, user.encode("utf-8"), hashlib.sha256).hexdigest()[:32]

    def locale_of(self, user: str) -> str | None:
        """The language this conversation is in, if the chat API has seen it since it started."""
        ctx = self.contexts.get(self.pseudonym(user))
        return ctx.locale if ctx is not None else None

    def _context(self, sender: str, locale: str | None, country: str | None) -> UserContext:
        ctx = self.contexts.get(sender)
        if ctx is None:
            ctx = UserContext(self.library.pick_locale(locale),
                              (country or self.library.default_country).upper())
            self.contexts[sender] = ctx
            while len(self.contexts) > 50_000:
                self.contexts.popitem(last=False)
        else:
            self.contexts.move_to_end(sender)
            if locale:
                ctx.locale = self.library.pick_locale(locale)
            if country:
                ctx.country = country.upper()
        return ctx

    def assess(self, user: str, text: str, locale: str | None = None) -> Assessment:
        """The safety layer's reading of ``text`` in this conversation's language (channels
        call it to put an emergency ahead of the chat's queue, then pass it to reply)."""
        known = self.contexts.get(self.pseudonym(user))
        return self.safety.assess(text, known.locale if known else
                                  self.library.pick_locale(locale))

    async def reply(self, user: str, text: str, locale: str | None = None,
                    country: str | None = None, *,
                    assessment: Assessment | None = None) -> ChatReply:
        """Answer one message: danger at once from the packs, everything else by the
        assistant (with a calm check-in line when the safety layer is unsure)."""
        sender = self.pseudonym(user)
        ctx = self._context(sender, locale, country)
        found = assessment if assessment is not None else self.safety.assess(text, ctx.locale)
        if found.tier == "emergency":
            log.info("safety: danger answered from the packs")
            return self.emergency(ctx, found)
        message = text[: self.settings.chat.max_message_chars]
        async with ctx.lock:
            context = {"locale": ctx.locale, "country": ctx.country}
            try:
                raw = await self.rasa.send(sender, with_context(message, context), context)
                if not raw:
                    raise RasaUnavailable("empty reply")
            except RasaUnavailable as err:
                # With only the action server down, Rasa can still read the message: danger
                # that the safety layer missed is then answered from the packs all the same.
                if await self.rasa.intent(message) == "danger":
                    log.warning("assistant unavailable (%s): danger answered from the packs",
                                err)
                    return self.emergency(ctx, found)
                log.warning("assistant unavailable (%s): answering with the menu", err)
                return self.with_check_in(ctx, found, self.apology(ctx.locale, ctx.country))
            ctx.assistant_saw_danger = False
            messages = await self._translate(sender, ctx, raw)
            if ctx.assistant_saw_danger:
                # The assistant's danger intent fired where the safety layer, which learnt
                # from the same examples and many more, was not sure: ask calmly instead.
                log.info("safety: the assistant read danger; answered with a check-in")
                return self.with_check_in(ctx, Assessment("check_in", found.score),
                                          self.menu_instead(ctx.locale, ctx.country))
            return self.with_check_in(ctx, found, messages)

    def emergency(self, ctx: UserContext, found: Assessment) -> ChatReply:
        reply = self.safety.emergency_reply(ctx.locale, ctx.country, reporter=found.reporter)
        return ChatReply([reply.as_json()], "emergency")

    def with_check_in(self, ctx: UserContext, found: Assessment,
                      messages: list[dict[str, Any]]) -> ChatReply:
        """The answer, and for an unsure reading one calm line with the emergency number before
        it (read first, in case the message was a cry for help the answer does not fit)."""
        if found.tier != "check_in":
            return ChatReply(messages)
        note = self.safety.check_in_note(ctx.locale, ctx.country).as_json()
        return ChatReply([note, *messages], "check_in")

    def menu_instead(self, locale: str, country: str) -> list[dict[str, Any]]:
        """The menu, for a turn whose own answer is set aside."""
        render = self.safety.renderer(locale)
        return [render.menu(False, self.library.hotlines_for(country)).as_json()]

    def apology(self, locale: str, country: str) -> list[dict[str, Any]]:
        render = self.safety.renderer(locale)
        _ = render.translator
        note = render.note(_("Sorry, I cannot answer that right now. Here is the menu; if you "
                             "are in danger, the numbers to call are below."))
        return [note.as_json(),
                render.menu(False, self.library.hotlines_for(country)).as_json()]

    async def _translate(self, sender: str, ctx: UserContext, raw: list[dict[str, Any]]
                         ) -> list[dict[str, Any]]:
        """Rasa's messages in the chat API's shape; directives for the gateway are acted on."""
        out: list[dict[str, Any]] = []
        for message in raw:
            custom = message.get("custom")
            if isinstance(custom, dict):
                directive = custom.get("safesteps")
                if isinstance(directive, dict):
                    await self._directive(sender, ctx, directive)
                elif "quiz" in custom and out:
                    out[-1]["quiz"] = custom["quiz"]
                continue
            if message.get("image") and out and not message.get("text"):
                out[-1]["image"] = message["image"]
                continue
            item: dict[str, Any] = {"text": str(message.get("text") or "")}
            buttons = message.get("buttons")
            if isinstance(buttons, list) and buttons:
                item["buttons"] = [{"title": str(b.get("title", "")),
                                    "payload": str(b.get("payload", ""))}
                                   for b in buttons if isinstance(b, dict)]
            if message.get("image"):
                item["image"] = str(message["image"])
            if item["text"] or item.get("buttons"):
                out.append(item)
        return out or self.apology(ctx.locale, ctx.country)

    async def _directive(self, sender: str, ctx: UserContext, directive: dict[str, Any]) -> None:
        context = directive.get("context")
        if isinstance(context, dict):
            if isinstance(context.get("locale"), str):
                ctx.locale = self.library.pick_locale(context["locale"])
            if isinstance(context.get("country"), str):
                ctx.country = context["country"].upper()
        if directive.get("danger"):
            ctx.assistant_saw_danger = True
        if directive.get("forget") or directive.get("hide"):
            await self.forget(sender)

    async def forget(self, sender: str) -> None:
        """Delete everything stored under this pseudonym: the Rasa tracker and the context."""
        self.contexts.pop(sender, None)
        if self.tracker_db is not None and self.tracker_db.is_file():
            await asyncio.to_thread(_delete_tracker, self.tracker_db, sender)


def with_context(message: str, context: dict[str, str]) -> str:
    """A button's payload with the conversation's locale and country among its entities, as
    ``context_locale`` and ``context_country`` (Rasa reads a payload without its NLU pipeline,
    so the message's metadata would not reach the slots). Typed text is returned as it is:
    the metadata carries its context."""
    match = PAYLOAD.match(message)
    if match is None:
        return message
    try:
        entities = json.loads(match.group(2)) if match.group(2) else {}
    except ValueError:
        return message
    if not isinstance(entities, dict):
        return message
    carried = {f"context_{key}": value for key, value in context.items()}
    return f"/{match.group(1)}" + json.dumps({**entities, **carried}, ensure_ascii=False)


def _delete_tracker(db: Path, sender: str) -> None:
    connection = sqlite3.connect(db, timeout=10)
    try:
        with connection, contextlib.suppress(sqlite3.OperationalError):  # nothing stored yet
            connection.execute("DELETE FROM events WHERE sender_id = ?", (sender,))
    finally:
        connection.close()


def clean_text(value: str) -> str:
    """Text as the assistant should read it: no control or direction-override characters."""
    value = value.translate(_CONTROL)
    return "".join(ch for ch in value if unicodedata.category(ch) != "Cf" or ch == "\u200d")


def parse_chat_request(body: Any) -> tuple[str, str, str | None, str | None]:
    if not isinstance(body, dict):
        raise BadRequest(400, 'send a JSON object such as {"user": "u1", "text": "hello"}')
    user, text = body.get("user"), body.get("text")
    if not isinstance(user, str) or not user.strip():
        raise BadRequest(400, '"user" is required: a string that identifies the conversation')
    if len(user) > MAX_USER_CHARS:
        raise BadRequest(400, f'"user" may have at most {MAX_USER_CHARS} characters')
    if not isinstance(text, str):
        raise BadRequest(400, '"text" is required: the message, as a string')
    text = clean_text(text).strip()
    if not text:
        raise BadRequest(400, '"text" is empty: send a message or a button\'s payload')
    locale, country = body.get("locale"), body.get("country")
    if locale is not None and not isinstance(locale, str):
        raise BadRequest(400, '"locale" must be a language tag such as en, zh-Hans or vi')
    if country is not None and (not isinstance(country, str) or not COUNTRY.match(country)):
        raise BadRequest(400, '"country" must be an ISO 3166 alpha-2 code such as CN or VN')
    return user, text, locale, country


SERVICE = web.AppKey("service", ChatService)
RETENTION = web.AppKey("retention", asyncio.Task)


def create_app(service: ChatService) -> web.Application:
    """The aiohttp application of the chat API (pages are added by their features)."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[SERVICE] = service
    limits = service.settings.limits
    per_user = RateLimit(limits.chat_per_user_per_minute, limits.chat_user_burst)
    per_address = RateLimit(limits.chat_per_address_per_minute, limits.chat_address_burst)

    async def chat(request: web.Request) -> web.Response:
        started = time.perf_counter()
        try:
            raw = await request.read()
            try:
                body = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                raise BadRequest(400, "the body is not valid JSON") from None
            user, text, locale, country = parse_chat_request(body)
        except BadRequest as err:
            return web.json_response({"error": err.message}, status=err.status)
        except web.HTTPRequestEntityTooLarge:
            return web.json_response(
                {"error": f"the message is too large (at most {MAX_BODY_BYTES} bytes)"},
                status=413)
        address = client_address(request, limits.trust_forwarded_for)
        # Quick exit's "/hide" must always be able to hide the conversation.
        wait = per_address.take(address) or (
            0.0 if text == "/hide" else per_user.take(service.pseudonym(user)))
        if wait:
            # Past the limit, danger is still answered (from the packs, without the assistant).
            found = service.assess(user, text, locale)
            if found.tier != "emergency":
                log.info("chat: a client was asked to slow down")
                return too_many(wait, "messages")
            reply = await service.reply(user, text, locale, country, assessment=found)
            return web.json_response({"messages": reply.messages, "safety": reply.safety})
        reply = await service.reply(user, text, locale, country)
        log.debug("turn answered in %.1f ms", (time.perf_counter() - started) * 1000)
        return web.json_response({"messages": reply.messages, "safety": reply.safety})

    async def healthz(request: web.Request) -> web.Response:
        """200 when every part answers; 503 naming what is down (danger is answered
        from the packs either way)."""
        down = [] if await service.rasa.ready() else ["Rasa server"]
        if service.actions_url is not None and not await service.rasa.answers(
                service.actions_url):
            down.append("action server")
        if not down:
            return web.json_response({"status": "ok", "down": []})
        return web.json_response(
            {"status": "the assistant is not ready: " + " and ".join(down) + " down",
             "down": down}, status=503)

    async def on_startup(app: web.Application) -> None:
        await service.rasa.start()
        if service.tracker_db is not None:
            app[RETENTION] = asyncio.ensure_future(
                purge_forever(service.tracker_db, service.settings.retention_days))

    async def on_cleanup(app: web.Application) -> None:
        task = app.get(RETENTION)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await service.rasa.close()

    app.router.add_post("/api/chat", chat)
    app.router.add_get("/healthz", healthz)
    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app
