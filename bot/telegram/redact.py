"""Keeps the bot token out of every log line (aiogram puts it in URLs and error texts), and
users' words and ids too: when aiogram cannot read an answer from Telegram, it logs the whole
answer (updates with their text) and pydantic's account of it on the following lines; only the
first line of aiogram's messages is kept."""

from __future__ import annotations

import logging
import re

TOKEN_IN_TEXT = re.compile(r"\d{5,}:[A-Za-z0-9_-]{20,}")


class RedactToken(logging.Filter):
    """Replaces the token (and anything shaped like a bot token) in a record's message."""

    def __init__(self, token: str | None) -> None:
        super().__init__()
        self.token = token or None

    def redact(self, text: str) -> str:
        if self.token:
            text = text.replace(self.token, "<redacted>")
        return TOKEN_IN_TEXT.sub("<redacted>", text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            message += f" ({type(record.exc_info[1]).__name__}: "\
                       f"{self.redact(str(record.exc_info[1]))})"
            record.exc_info = None  # tracebacks may hold the token in local values
            record.exc_text = None
        if record.name.startswith("aiogram") and "\n" in message:
            message = message.split("\n", 1)[0] + " (details not logged)"
        record.msg, record.args = self.redact(message), None
        return True


def install(token: str | None) -> RedactToken:
    """Put the filter on every handler of the root logger (records from all loggers meet it)."""
    redactor = RedactToken(token)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)
    return redactor
