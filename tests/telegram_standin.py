"""A stand-in for the Telegram Bot API on loopback, for tests and benchmarks (no network).

It speaks the HTTP protocol the real bot uses (``/bot<token>/<method>``, form or JSON
parameters, ``{"ok": ..., "result": ...}`` answers), hands out updates to ``getUpdates``, and
records every call. It enforces what Telegram enforces and a volunteer's mistake could break:
message length, the HTML tags Telegram accepts, callback data of at most 64 bytes, poll limits.
A test can make it answer 429 (``retry_after``) to see the bot wait and send again.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from aiohttp import web

BOT_ID = 7000001
BOT_USERNAME = "safesteps_test_bot"
ALLOWED_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
                "tg-spoiler", "span", "blockquote", "tg-emoji"}


class TelegramHTML(HTMLParser):
    """Checks text the way Telegram's HTML parse mode does; the visible length."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.visible = 0
        self.problem: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.problem = f"can't parse entities: Unsupported start tag \"{tag}\""
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.problem = f"can't parse entities: Unexpected end tag \"{tag}\""
        else:
            self.open.pop()

    def handle_data(self, data: str) -> None:
        self.visible += len(data)


def check_html(text: str) -> str | None:
    """None when Telegram would accept ``text`` in HTML parse mode, else its complaint."""
    if re.search(r"&(?!(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);)", text):
        return "can't parse entities: bare & (write &amp;)"
    if re.search(r"<(?![a-zA-Z/])", text):
        return "can't parse entities: a < that starts no tag (write &lt;)"
    parser = TelegramHTML()
    parser.feed(text)
    parser.close()
    if parser.problem:
        return parser.problem
    if parser.open:
        return f"can't parse entities: Can't find end tag corresponding to \"{parser.open[-1]}\""
    if not 1 <= parser.visible <= 4096:
        return f"message text is {'empty' if not parser.visible else 'too long'}"
    return None


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float
    status: int = 200
    result: Any = None  # what the stand-in answered (the message, with its id)


@dataclass
class Fault:
    method: str
    remaining: int  # answer this many calls of ``method`` with the fault
    code: int
    retry_after: int = 0


@dataclass
class StandIn:
    """The server's state; the test thread reads ``calls`` and calls ``push``."""

    token: str
    calls: list[Call] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    # Users who have written to the bot: Telegram refuses to let a bot start a private chat.
    started: set[int] = field(default_factory=set)
    message_ids: Any = field(default_factory=lambda: itertools.count(1000))
    update_ids: Any = field(default_factory=lambda: itertools.count(1))
    lock: threading.Lock = field(default_factory=threading.Lock)
    loop: asyncio.AbstractEventLoop | None = None
    arrived: asyncio.Event | None = None
    port: int = 0
    _runner: web.AppRunner | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # Driving it from a test -------------------------------------------------------------------

    def push(self, *updates: dict[str, Any]) -> int:
        """Queue updates for getUpdates, together (an update_id is given to those with none)."""
        with self.lock:
            queued = [{"update_id": next(self.update_ids), **update} for update in updates]
            self.updates.extend(queued)
            self.started |= {who for update in updates if (who := _private_sender(update))}
        if self.loop is not None and self.arrived is not None:
            self.loop.call_soon_threadsafe(self.arrived.set)
        return int(queued[-1]["update_id"])

    def chat_started(self, user_id: int) -> None:
        """The user wrote to the bot by a way the stand-in does not see (a webhook)."""
        with self.lock:
            self.started.add(user_id)

    def next_update_id(self) -> int:
        """An id for an update a test builds itself (ids only grow, as on Telegram)."""
        with self.lock:
            return int(next(self.update_ids))

    def fail(self, method: str, code: int = 429, retry_after: int = 2, times: int = 1) -> None:
        with self.lock:
            self.faults.append(Fault(method, times, code, retry_after))

    def since(self, mark: int, method: str | None = None) -> list[Call]:
        with self.lock:
            return [c for c in self.calls[mark:] if method is None or c.method == method]

    def mark(self) -> int:
        with self.lock:
            return len(self.calls)

    def wait_for(self, mark: int, predicate: Callable[[list[Call]], bool],
                 timeout: float = 30) -> list[Call]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            calls = self.since(mark)
            if predicate(calls):
                return calls
            time.sleep(0.05)
        said = [str(c.params.get("text", ""))[:120] for c in self.since(mark)
                if c.method == "sendMessage"]
        raise AssertionError(f"the bot did not do what was expected in {timeout} s; calls: "
                             + ", ".join(c.method for c in self.since(mark))
                             + "; it said: " + " | ".join(said))

    # The server -----------------------------------------------------------------------------

    def start(self) -> StandIn:
        ready = threading.Event()

        def run() -> None:
            self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)
            self.arrived = asyncio.Event()
            app = web.Application(client_max_size=60 * 1024 * 1024)
            app.router.add_route("*", "/bot{token}/{method}", self._handle)
            self._runner = web.AppRunner(app, access_log=None)
            self.loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            self.loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            ready.set()
            self.loop.run_forever()
            self.loop.run_until_complete(self._runner.cleanup())
            self.loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            params.update(await request.json())
        elif request.can_read_body:
            for key, value in (await request.post()).items():
                if isinstance(value, str):
                    params[key] = value
                else:  # an uploaded file: a placeholder, and what it held for tests to read
                    params[key] = f"<file {key}>"
                    params[f"{key}:content"] = value.file.read()
        for key in ("reply_markup", "options", "commands", "allowed_updates",
                    "correct_option_ids"):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        return params

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params = await self._params(request)
        call = Call(method, params, time.monotonic())
        with self.lock:
            self.calls.append(call)
            fault = next((f for f in self.faults if f.method == method and f.remaining > 0),
                         None)
            if fault is not None:
                fault.remaining -= 1
        if fault is not None:
            call.status = fault.code
            return _error(fault.code, "Too Many Requests: retry after "
                          f"{fault.retry_after}" if fault.code == 429 else "Internal Error",
                          {"retry_after": fault.retry_after} if fault.code == 429 else None)
        if method == "getUpdates":
            return await self._get_updates(params)
        answer = getattr(self, f"_{method}", None)
        if answer is None:
            return _ok(True)
        chat = str(params.get("chat_id", ""))
        if method.startswith("send") and chat.isdigit() and int(chat) not in self.started:
            call.status = 403
            return _error(403, "Forbidden: bot can't initiate conversation with a user")
        try:
            result = answer(params)
        except BadRequest as err:
            call.status = 400
            return _error(400, f"Bad Request: {err}")
        call.result = result
        return _ok(result)

    async def _get_updates(self, params: dict[str, Any]) -> web.Response:
        offset = int(params.get("offset") or 0)
        timeout = min(float(params.get("timeout") or 0), 2.0)
        assert self.arrived is not None
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
                pending = list(self.updates)
            if pending or time.monotonic() >= deadline:
                return _ok(pending)
            self.arrived.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), deadline - time.monotonic())

    # Methods --------------------------------------------------------------------------------

    def _getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"id": BOT_ID, "is_bot": True, "first_name": "SafeSteps",
                "username": BOT_USERNAME, "can_join_groups": True,
                "can_read_all_group_messages": False, "supports_inline_queries": False}

    def _message(self, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        chat = {"id": chat_id, "type": "private" if chat_id > 0 else "group"}
        if chat_id < 0:
            chat["title"] = "Class 7B"
        return {"message_id": next(self.message_ids), "date": int(time.time()), "chat": chat,
                "from": self._getMe({}), **extra}

    @staticmethod
    def _check_markup(params: dict[str, Any]) -> None:
        markup = params.get("reply_markup") or {}
        for row in markup.get("inline_keyboard", []):
            for button in row:
                if not button.get("text"):
                    raise BadRequest("BUTTON_TEXT_EMPTY")
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode("utf-8")) <= 64:
                    raise BadRequest("BUTTON_DATA_INVALID")
                url = button.get("url")
                if data is None and url is None:
                    raise BadRequest("a button needs callback_data or url")
                if url is not None and not url.startswith(("https://", "tg://")):
                    raise BadRequest("BUTTON_URL_INVALID")

    def _sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        text = str(params.get("text", ""))
        if params.get("parse_mode") == "HTML":
            problem = check_html(text)
            if problem:
                raise BadRequest(problem)
        elif not 1 <= len(text) <= 4096:
            raise BadRequest("message text is empty or too long")
        self._check_markup(params)
        return self._message(params, text=html.unescape(re.sub(r"<[^>]+>", "", text)))

    def _sendPoll(self, params: dict[str, Any]) -> dict[str, Any]:
        question, options = str(params.get("question", "")), params.get("options") or []
        if not 1 <= len(question) <= 300:
            raise BadRequest("POLL_QUESTION_INVALID")
        texts = [o["text"] if isinstance(o, dict) else str(o) for o in options]
        if not 2 <= len(texts) <= 12 or not all(1 <= len(t) <= 100 for t in texts):
            raise BadRequest("POLL_OPTION_INVALID")
        if params.get("type") == "quiz" and not params.get("correct_option_ids"):
            raise BadRequest("the correct option is missing in a quiz poll")
        self._check_markup(params)
        poll = {"id": f"poll-{next(self.message_ids)}", "question": question,
                "options": [{"text": t, "voter_count": 0, "persistent_id": str(n)}
                            for n, t in enumerate(texts)],
                "total_voter_count": 0, "is_closed": False, "is_anonymous": False,
                "type": params.get("type", "regular"), "allows_multiple_answers": False,
                "allows_revoting": False, "members_only": False,
                "correct_option_ids": params.get("correct_option_ids")}
        return self._message(params, poll=poll)

    def _sendDocument(self, params: dict[str, Any]) -> dict[str, Any]:
        caption = str(params.get("caption", ""))
        if len(caption) > 1024:
            raise BadRequest("the caption is longer than 1024 characters")
        return self._message(params, document={"file_id": "document", "file_unique_id": "d",
                                               "file_name": "report.csv"})

    def _sendPhoto(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._message(params, photo=[{"file_id": "photo", "file_unique_id": "p",
                                             "width": 1, "height": 1}])

    def _editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._sendMessage(params)

    def _editMessageReplyMarkup(self, params: dict[str, Any]) -> dict[str, Any]:
        self._check_markup(params)
        return self._message(params, text="…")

    def _answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        text = params.get("text")
        if text is not None and len(str(text)) > 200:
            raise BadRequest("the notification text is longer than 200 characters")
        return True

    def _getWebhookInfo(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}


class BadRequest(Exception):
    pass


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(code: int, description: str, parameters: dict[str, Any] | None = None
           ) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=code)


def _private_sender(update: dict[str, Any]) -> int | None:
    """The user who wrote to the bot in a private chat (or pressed, or voted), if any."""
    message = update.get("message") or update.get("edited_message")
    if message and message["chat"]["type"] == "private":
        return int(message["from"]["id"])
    press = update.get("callback_query")
    if press and press.get("message", {}).get("chat", {}).get("type") == "private":
        return int(press["from"]["id"])
    if "poll_answer" in update:  # polls are only sent to private chats here
        return int(update["poll_answer"]["user"]["id"])
    return None


# Updates as Telegram sends them ---------------------------------------------------------------

def user(user_id: int, language: str | None = "en") -> dict[str, Any]:
    data: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": "Pupil"}
    if language:
        data["language_code"] = language
    return data


def text_update(user_id: int, text: str, language: str | None = "en",
                chat_id: int | None = None, message_id: int = 1) -> dict[str, Any]:
    chat = chat_id if chat_id is not None else user_id
    message: dict[str, Any] = {
        "message_id": message_id, "date": int(time.time()),
        "chat": {"id": chat, "type": "private" if chat > 0 else "group",
                 **({"title": "Class 7B"} if chat < 0 else {})},
        "from": user(user_id, language), "text": text}
    if text.startswith("/"):
        command = text.split()[0]
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    return {"message": message}


def press_update(user_id: int, data: str, message_id: int = 1, language: str | None = "en",
                 chat_id: int | None = None) -> dict[str, Any]:
    """A press of an inline button under a message in a private chat (or in ``chat_id``)."""
    chat = chat_id if chat_id is not None else user_id
    return {"callback_query": {
        "id": f"cb-{user_id}-{time.monotonic_ns()}", "from": user(user_id, language),
        "chat_instance": "ci", "data": data,
        "message": {"message_id": message_id, "date": int(time.time()),
                    "chat": {"id": chat, "type": "private" if chat > 0 else "group",
                             **({"title": "Class 7B"} if chat < 0 else {})},
                    "text": "…"}}}


def poll_answer_update(user_id: int, poll_id: str, option: int) -> dict[str, Any]:
    return {"poll_answer": {"poll_id": poll_id, "user": user(user_id), "option_ids": [option],
                            "option_persistent_ids": [str(option)]}}
