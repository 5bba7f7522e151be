"""`safesteps up`: start the action server, the Rasa server and the chat API; stop them all.

A supervisor restarts the Rasa server or the action server when it stops (with a growing pause
between attempts, reset once it has run for a while); the chat API answers danger from the
packs meanwhile, and /healthz names what is down.

Rasa and the action server listen on 127.0.0.1 only. Their output is kept in memory (the last
lines, shown if they fail to start), never written to disk: Rasa may print a user's message
when it fails, and user text is never logged.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web

from bot.assistant.project import conversation_store, write_endpoints
from bot.assistant.training import AssistantError, current_model, rasa_environment, rasa_executable
from bot.chat.app import ChatService, RasaClient, create_app, kept_secret, load_secret
from bot.chat.web import add_web_chat
from bot.classroom import add_classroom, open_classroom
from bot.classroom.engine import Classroom
from bot.classroom.store import StoreError
from bot.content.library import ContentLibrary
from bot.limits import is_loopback
from bot.settings import Settings

STARTUP_TIMEOUT = 420.0
RESTART_DELAY_MAX = 60.0  # seconds between attempts, at most
HEALTHY_AFTER = 120.0  # seconds of running after which the pause starts small again

log = logging.getLogger("safesteps.stack")


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def network_address() -> str:
    """This computer's address on its network (what pupils' phones can open), found without
    sending anything: a UDP socket is only pointed at an outside address, never used."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"


# Each server works one request at a time and they share the machine's cores: a numerical
# library that spreads one request over every core only makes its threads wait for each other
# and for the other servers (the FAQ's sentence embedding took twice the CPU time under load).
ONE_THREAD_EACH = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    args: list[str] = field(default_factory=list)
    cwd: Path = Path(".")
    env: dict[str, str] = field(default_factory=dict, repr=False)
    started: float = field(default_factory=time.monotonic)
    restarts: int = 0
    lines: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=60))

    def drain(self) -> None:
        """Keep the last lines of output in memory (a thread per child)."""
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            self.lines.append(raw.decode("utf-8", "replace").rstrip())


@dataclass
class Stack:
    settings: Settings
    rasa_port: int
    action_port: int
    children: list[Child] = field(default_factory=list)
    # Hex: a token starting with "-" would read as an option to `rasa run`.
    token: str = field(default_factory=lambda: secrets.token_hex(24))

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    @staticmethod
    def _popen(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )

    def _spawn(self, name: str, args: list[str], cwd: Path, env: dict[str, str]) -> Child:
        child = Child(name, self._popen(args, cwd, env), args, cwd, env)
        threading.Thread(target=child.drain, daemon=True).start()
        self.children.append(child)
        return child

    def restart(self, child: Child) -> None:
        """Start a stopped child again, as it was started the first time."""
        child.process = self._popen(child.args, child.cwd, child.env)
        child.started = time.monotonic()
        child.restarts += 1
        threading.Thread(target=child.drain, daemon=True).start()

    async def supervise(self, say: Callable[[str], None], first_delay: float = 2.0,
                        on_restart: Callable[[], None] | None = None) -> None:
        """Restart whichever child stops, for as long as the stack runs (cancel to end):
        after ``first_delay`` seconds, then twice as long each time it stops again soon."""
        delays = {c.name: first_delay for c in self.children}
        while True:
            await asyncio.sleep(0.5)
            for child in self.children:
                code = child.process.poll()
                if code is None:
                    if time.monotonic() - child.started > HEALTHY_AFTER:
                        delays[child.name] = first_delay
                    continue
                delay = delays[child.name]
                tail = " | ".join(list(child.lines)[-3:])
                log.warning("the %s stopped (exit %s); restarting it in %.0f s. Its last "
                            "lines: %s", child.name, code, delay, tail or "(none)")
                say(f"The {child.name} stopped (exit {code}); restarting it in {delay:.0f} s. "
                    "Danger is still answered from the packs meanwhile.")
                await asyncio.sleep(delay)
                self.restart(child)
                delays[child.name] = min(RESTART_DELAY_MAX, delay * 2)
                log.warning("the %s was restarted (restart %d)", child.name, child.restarts)
                say(f"The {child.name} was restarted (restart {child.restarts}).")
                if on_restart is not None:
                    on_restart()

    def start(self) -> None:
        for name, port in (("Rasa server", self.rasa_port), ("action server", self.action_port)):
            if not port_free("127.0.0.1", port):
                raise AssistantError(f"Port {port} (the {name}) is already in use: stop what "
                                     "uses it, or choose another port in config.yml.")
        model = current_model(self.settings)
        if model is None:
            raise AssistantError("There is no trained model yet: run safesteps train "
                                 "(make run does it for you).")
        root = self.settings.resolve(Path("."))
        kit_env = {**os.environ, **ONE_THREAD_EACH, "SANIC_HOST": "127.0.0.1",
                   "SAFESTEPS_ROOT": str(root), "PYTHONUNBUFFERED": "1"}
        self._spawn("action server", [
            sys.executable, "-m", "rasa_sdk", "--actions", "bot.assistant.actions",
            "-p", str(self.action_port),
        ], root, kit_env)
        project = write_endpoints(self.settings, self.action_port).parent
        self._spawn("Rasa server", [
            str(rasa_executable(self.settings)), "run", "--model", str(model),
            "--endpoints", "endpoints.yml", "--credentials", "credentials.yml",
            "--interface", "127.0.0.1", "--port", str(self.rasa_port),
            "--enable-api", "--auth-token", self.token, "--quiet",
        ], project, {**rasa_environment(), **ONE_THREAD_EACH})

    def failed(self) -> Child | None:
        return next((c for c in self.children if c.process.poll() is not None), None)

    async def wait_ready(self, say: Callable[[str], None]) -> None:
        """Wait until both servers answer, showing progress; raise if one dies or hangs."""
        started = time.monotonic()
        ready: set[str] = set()
        last_note = 0.0
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            while True:
                dead = self.failed()
                if dead is not None:
                    tail = "\n".join(list(dead.lines)[-25:])
                    raise AssistantError(f"The {dead.name} stopped (exit "
                                         f"{dead.process.returncode}). Its last lines:\n{tail}")
                checks = {
                    "action server": f"http://127.0.0.1:{self.action_port}/health",
                    "Rasa server": f"{self.rasa_url}/status?token={self.token}",
                }
                for name, url in checks.items():
                    if name in ready:
                        continue
                    try:
                        async with session.get(url) as resp:
                            body = await resp.json(content_type=None) if resp.status == 200 \
                                else None
                    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
                        body = None
                    if body and (name != "Rasa server" or body.get("model_file")):
                        ready.add(name)
                        say(f"  ✓ {name} ready ({time.monotonic() - started:.0f} s)")
                if len(ready) == len(checks):
                    return
                elapsed = time.monotonic() - started
                if elapsed > STARTUP_TIMEOUT:
                    raise AssistantError(f"The servers did not start within "
                                         f"{STARTUP_TIMEOUT:.0f} s.")
                if elapsed - last_note >= 10:
                    waiting = ", ".join(sorted(set(checks) - ready))
                    say(f"  … waiting for the {waiting} ({elapsed:.0f} s; loading the model "
                        "takes up to a minute)")
                    last_note = elapsed
                await asyncio.sleep(0.5)

    def stop(self) -> None:
        """Stop every process this stack started, and their children."""
        for child in self.children:
            if child.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in self.children:
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.process.pid, signal.SIGKILL)
                child.process.wait()

    def state(self) -> dict[str, object]:
        return {"pids": {c.name: c.process.pid for c in self.children},
                "restarts": {c.name: c.restarts for c in self.children},
                "rasa_port": self.rasa_port, "action_port": self.action_port}


def make_service(settings: Settings, rasa_url: str, token: str | None,
                 actions_url: str | None = None) -> ChatService:
    var_dir = settings.resolve(settings.build_dir) / "var"
    service = ChatService(
        settings=settings,
        library=ContentLibrary.load(settings),
        rasa=RasaClient(rasa_url, token, settings.assistant.reply_timeout_seconds,
                        settings.assistant.rasa_concurrency),
        secret=load_secret(var_dir, os.environ.get("SAFESTEPS_SECRET")),
        tracker_db=conversation_store(settings),
        actions_url=actions_url,
    )
    return service


@dataclass
class TelegramPlan:
    """What the environment asks of the Telegram gateway, checked before anything starts."""

    token: str
    api_url: str | None
    webhook: tuple[str, str] | None  # (public url, secret) in webhook mode


def telegram_plan(settings: Settings, env: dict[str, str]) -> TelegramPlan | None:
    """None without SAFESTEPS_TELEGRAM_TOKEN; AssistantError when the setup cannot work."""
    from aiogram.utils.token import TokenValidationError, validate_token

    from bot.telegram.gateway import WebhookError, webhook_secret

    token = env.get("SAFESTEPS_TELEGRAM_TOKEN", "").strip()
    if not token:
        return None
    try:
        validate_token(token)
    except TokenValidationError:
        raise AssistantError("SAFESTEPS_TELEGRAM_TOKEN does not look like a bot token (digits, "
                             "a colon, then letters): copy it again from @BotFather.") from None
    api_url = env.get("SAFESTEPS_TELEGRAM_API_URL", "").strip() or None
    if api_url is not None and not api_url.startswith(("http://", "https://")):
        raise AssistantError("SAFESTEPS_TELEGRAM_API_URL should be the address of a Bot API "
                             "server, such as http://127.0.0.1:8081")
    webhook = None
    if settings.telegram.mode == "webhook":
        try:
            webhook = webhook_secret(settings, env.get("SAFESTEPS_TELEGRAM_WEBHOOK_SECRET"))
        except WebhookError as err:
            raise AssistantError(str(err)) from None
    return TelegramPlan(token, api_url, webhook)


async def start_telegram(plan: TelegramPlan, settings: Settings, service: ChatService,
                         app: web.Application, say: Callable[[str], None],
                         classroom: Classroom | None = None) -> Callable[[], Awaitable[None]]:
    """Start the gateway (polling, or the webhook route on ``app``); returns its stop."""
    from aiogram.exceptions import TelegramAPIError, TelegramUnauthorizedError

    from bot.telegram.gateway import ALLOWED_UPDATES, Gateway, make_bot, webhook_handler

    bot = make_bot(plan.token, plan.api_url)
    gateway = Gateway(settings, service, bot, classroom)
    try:
        await gateway.start()
    except TelegramUnauthorizedError:
        await bot.session.close()
        raise AssistantError("Telegram refused SAFESTEPS_TELEGRAM_TOKEN: check it with "
                             "@BotFather, or unset it to run without Telegram.") from None
    except (TelegramAPIError, OSError) as err:
        await bot.session.close()
        raise AssistantError(f"Could not reach the Telegram Bot API ({type(err).__name__}). "
                             "Check the network (or SAFESTEPS_TELEGRAM_API_URL), or unset "
                             "SAFESTEPS_TELEGRAM_TOKEN to run without Telegram.") from None
    polling: asyncio.Task[None] | None = None
    if plan.webhook is not None:
        url, secret = plan.webhook
        app.router.add_post(settings.telegram.webhook_path, webhook_handler(gateway, secret))
        await bot.set_webhook(url, secret_token=secret, allowed_updates=ALLOWED_UPDATES)
        say(f"Telegram: @{gateway.username} takes updates by webhook at "
            f"{settings.telegram.webhook_path}.")
    else:
        await bot.delete_webhook()
        polling = asyncio.ensure_future(gateway.dispatcher.start_polling(
            bot, handle_signals=False, close_bot_session=False,
            allowed_updates=ALLOWED_UPDATES))
        say(f"Telegram: @{gateway.username} is polling for updates.")

    async def stop() -> None:
        if polling is not None:
            with contextlib.suppress(RuntimeError):
                await gateway.dispatcher.stop_polling()
            with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
                await asyncio.wait_for(polling, 10)
        await bot.session.close()

    return stop


def teacher_key(host: str, var_dir: Path, from_env: str | None) -> str | None:
    """The key that creating a class quiz needs: SAFESTEPS_TEACHER_KEY when set; else, when
    the server listens beyond this computer, one made once and kept in ``var_dir``; else none
    (only this computer reaches the server)."""
    if from_env and from_env.strip():
        return from_env.strip()
    if is_loopback(host):
        return None
    # Easy to type: 1a2b-3c4d-5e6f-7a8b.
    return kept_secret(var_dir / "teacher-key",
                       lambda: "-".join(secrets.token_hex(2) for _ in range(4)))


async def serve(settings: Settings, host: str, port: int, rasa_port: int, action_port: int,
                say: Callable[[str], None], restart_delay: float = 2.0) -> None:
    """Run the whole stack until SIGINT or SIGTERM, then stop every part of it; restart the
    Rasa server or the action server when one stops (after ``restart_delay`` seconds)."""
    plan = telegram_plan(settings, dict(os.environ))
    if not port_free(host, port):
        raise AssistantError(f"Port {port} is already in use: is SafeSteps already running? "
                             f"Stop it, or start with --port {port + 1}.")
    stack = Stack(settings, rasa_port, action_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    state_file = settings.resolve(settings.build_dir) / "var" / "stack.json"
    runner: web.AppRunner | None = None
    stop_telegram: Callable[[], Awaitable[None]] | None = None
    supervisor: asyncio.Task[None] | None = None
    try:
        say("Starting the action server and the Rasa server ...")
        stack.start()
        ready = asyncio.ensure_future(stack.wait_ready(say))
        stopped = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait({ready, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if stopped in done:
            ready.cancel()
            return
        stopped.cancel()
        ready.result()
        service = make_service(settings, stack.rasa_url, stack.token,
                               f"http://127.0.0.1:{action_port}/health")
        app = create_app(service)
        add_web_chat(app, settings, service.library)
        try:
            classroom = open_classroom(settings, service.library)
        except StoreError as err:
            raise AssistantError(str(err)) from None
        key = teacher_key(host, settings.resolve(settings.build_dir) / "var",
                          os.environ.get("SAFESTEPS_TEACHER_KEY"))
        add_classroom(app, settings, classroom, key)
        if plan is not None:
            stop_telegram = await start_telegram(plan, settings, service, app, say, classroom)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()

        def write_state() -> None:
            state_file.write_text(json.dumps({**stack.state(), "chat_port": port}) + "\n")

        write_state()
        supervisor = asyncio.ensure_future(stack.supervise(say, restart_delay, write_state))
        everywhere = host in ("0.0.0.0", "::", "")  # noqa: S104 (a comparison, not a bind)
        shown = network_address() if everywhere else host
        say(f"SafeSteps is ready. Open the web chat: http://{shown}:{port}/  "
            f"(chat API: http://{shown}:{port}/api/chat, health: /healthz)")
        say(f"Teachers: run a class quiz at http://{shown}:{port}/host  "
            f"(pupils join at http://{shown}:{port}/join)")
        if key is not None:
            say(f"Teacher key (asked once on /host): {key}")
        say("Press Ctrl-C to stop.")
        await stop.wait()
        say("Stopping ...")
    finally:
        if supervisor is not None:
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervisor
        if stop_telegram is not None:
            await stop_telegram()
        if runner is not None:
            await runner.cleanup()
        stack.stop()
        state_file.unlink(missing_ok=True)
        say("Stopped: every SafeSteps process has ended.")
