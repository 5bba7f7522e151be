"""The real stack for conversation tests: `safesteps up` (Rasa, action server, chat API) on
free ports, with the model trained once per fingerprint and cached in build/models."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

from bot.assistant.costs import free_port
from tests.conftest import ROOT
from tests.telegram_standin import StandIn


def made_up_token() -> str:
    """A bot token in Telegram's shape, made up anew for each run (no token is committed)."""
    return f"{secrets.randbelow(9 * 10**8) + 10**8}:{secrets.token_urlsafe(27)}"


# The stack's Telegram gateway uses it with the stand-in Bot API only.
TELEGRAM_TOKEN = made_up_token()

_users = count()


RESTART_DELAY = 15  # seconds before the stack's supervisor restarts a stopped server
# The conversation tests and the benchmark are scripts, typing far faster than people: the
# stack they start has the chat's rate limits raised (tests/test_limits.py tests the limits).
SCRIPTED_LIMITS = """
limits:
  chat_per_user_per_minute: 1000000
  chat_user_burst: 1000000
  chat_per_address_per_minute: 1000000
  chat_address_burst: 1000000
"""


def scripted_config(tmp: Path) -> Path:
    """The project's config.yml with the chat's rate limits out of a script's way."""
    path = tmp / "config.yml"
    path.write_text((ROOT / "config.yml").read_text(encoding="utf-8") + SCRIPTED_LIMITS,
                    encoding="utf-8")
    return path


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Running:
    process: subprocess.Popen[str]
    url: str
    ports: dict[str, int]
    log: Path
    telegram: StandIn
    users: list[str] = field(default_factory=list)

    def post(self, body: Any, raw: bytes | None = None) -> tuple[int, dict[str, Any]]:
        data = raw if raw is not None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}/api/chat", data=data, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as err:
            with err:
                return err.code, json.loads(err.read() or b"{}")

    def chat(self, user: str, text: str, **extra: str) -> list[dict[str, Any]]:
        status, data = self.post({"user": user, "text": text, **extra})
        assert status == 200, data
        messages: list[dict[str, Any]] = data["messages"]
        return messages

    def new_user(self) -> str:
        user = f"test-user-{os.getpid()}-{next(_users)}"
        self.users.append(user)
        return user

    def state(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((ROOT / "build" / "var" / "stack.json").read_text())
        return data


def train_model() -> None:
    result = subprocess.run([sys.executable, "-m", "bot", "train"], cwd=ROOT, check=False)
    assert result.returncode == 0, "training failed"


def start_stack(tmp: Path) -> Running:
    ports = {"chat": free_port(), "rasa": free_port(), "action": free_port()}
    log = tmp / "up.log"
    telegram = StandIn(TELEGRAM_TOKEN).start()
    env = {**os.environ, "SAFESTEPS_TELEGRAM_TOKEN": TELEGRAM_TOKEN,
           "SAFESTEPS_TELEGRAM_API_URL": telegram.url}
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "--config", str(scripted_config(tmp)), "up",
             "--port", str(ports["chat"]),
             "--rasa-port", str(ports["rasa"]), "--action-port", str(ports["action"]),
             # Long enough for the outage tests to see each part down before it comes back.
             "--restart-delay", str(RESTART_DELAY)],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, text=True, env=env,
        )
    url = f"http://127.0.0.1:{ports['chat']}"
    deadline = time.monotonic() + 480
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError("safesteps up stopped:\n" + log.read_text())
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:
                if response.status == 200:
                    return Running(process, url, ports, log, telegram)
        except urllib.error.HTTPError as err:
            err.close()  # 503 while the model loads
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(1)
    process.send_signal(signal.SIGTERM)
    raise AssertionError("the stack did not become ready:\n" + log.read_text())


def stop_stack(running: Running) -> int:
    running.process.send_signal(signal.SIGTERM)
    try:
        return running.process.wait(timeout=60)
    finally:
        running.telegram.stop()
