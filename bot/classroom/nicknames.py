"""Pupils' nicknames: short, and never a way to find the child.

A classroom shows nicknames on a projector, so a nickname may not carry a phone number, an
email or web address, a messaging handle, or a run of digits (a birthday, a house number, part of
a phone number). Refusals say what to change, with a reason the pages translate.
"""

from __future__ import annotations

import re
import unicodedata

MAX_NICKNAME_CHARS = 20

_EMAIL = re.compile(r"\S+@\S+\.\S+")
_WEB = re.compile(r"(https?:|www\.|\.(com|net|org|cn|vn|me|io)\b|t\.me)", re.IGNORECASE)
_HANDLE = re.compile(r"[@#]\w")
_DIGIT = re.compile(r"\d")
# Characters that would let a spreadsheet run the nickname as a formula (report.csv).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class NicknameRefused(Exception):
    """``reason`` is a stable key for the pages; the message is for API users."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def clean_nickname(value: str) -> str:
    """The nickname as it will be shown, or NicknameRefused with what to change."""
    text = unicodedata.normalize("NFKC", value)
    text = "".join(ch for ch in text
                   if unicodedata.category(ch)[0] != "C" or ch == "\u200d")
    text = " ".join(text.split())
    if not text:
        raise NicknameRefused("nickname_empty", "choose a nickname")
    if len(text) > MAX_NICKNAME_CHARS:
        raise NicknameRefused(
            "nickname_long",
            f"a nickname may have at most {MAX_NICKNAME_CHARS} characters; this one has "
            f"{len(text)}")
    if _EMAIL.search(text) or _WEB.search(text) or _HANDLE.search(text):
        raise NicknameRefused("nickname_personal",
                              "a nickname may not hold an email or web address or a handle")
    if len(_DIGIT.findall(text)) >= 3:
        raise NicknameRefused("nickname_personal",
                              "a nickname may have at most 2 digits (no phone numbers or "
                              "birthdays)")
    if text.startswith(_FORMULA_START):
        raise NicknameRefused("nickname_symbol", "a nickname may not start with = + - or @")
    return text
