"""`safesteps shell`: chat with a running SafeSteps in the terminal.

Buttons are numbered; type a number to press one. The shell talks to the chat API exactly as
the web chat does, so it passes through the same safety layer.
"""

from __future__ import annotations

import html
import json
import re
import secrets
import sys
import urllib.error
import urllib.request
from typing import Any

from bot.settings import Settings

_BOLD = re.compile(r"</?(b|strong)>")
_TAGS = re.compile(r"<[^>]+>")


def to_terminal(text: str, color: bool) -> str:
    """Telegram-style HTML as terminal text (bold kept when the terminal shows it)."""
    if color:
        text = _BOLD.sub(lambda m: "\033[0m" if m.group(0).startswith("</") else "\033[1m", text)
    return html.unescape(_TAGS.sub("", text))


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 (the chat API's own http URL)
        f"{url}/api/chat", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (our own URL)
        data: dict[str, Any] = json.loads(response.read())
    return data


def run_shell(settings: Settings, url: str | None, locale: str | None, country: str | None
              ) -> int:
    base = (url or f"http://{settings.chat.host}:{settings.chat.port}").rstrip("/")
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=5):  # noqa: S310
            pass
    except (urllib.error.URLError, OSError):
        print(f"SafeSteps is not running at {base}. Start it in another terminal with "
              "`make run` (or `.venv/bin/safesteps up`), then run this again.", file=sys.stderr)
        return 1
    user = "shell-" + secrets.token_hex(8)
    color = sys.stdout.isatty()
    buttons: list[dict[str, str]] = []
    print("Type a message, or the number of a button. Ctrl-D or /quit to leave.")
    text = "hello"
    while True:
        body: dict[str, Any] = {"user": user, "text": text}
        if locale:
            body["locale"] = locale
        if country:
            body["country"] = country
        try:
            reply = _post(base, body)
        except (urllib.error.URLError, OSError, ValueError) as err:
            print(f"(the chat API did not answer: {err})", file=sys.stderr)
            reply = {"messages": []}
        buttons = []
        for message in reply.get("messages", []):
            print(to_terminal(message.get("text", ""), color))
            for button in message.get("buttons", []):
                buttons.append(button)
                print(f"  [{len(buttons)}] {button['title']}")
            print()
        try:
            typed = input("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if typed in ("/quit", "/exit"):
            return 0
        if typed.isdigit() and 1 <= int(typed) <= len(buttons):
            text = buttons[int(typed) - 1]["payload"]
        else:
            text = typed or "menu"
