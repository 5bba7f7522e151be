"""Interface catalogs: complete, placeholders equal to the source, compiling cleanly."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot.i18n import (
    Translator,
    country_name,
    format_date,
    format_number,
    language_name,
    own_language_name,
)
from tests.conftest import ROOT, SHIPPED_LOCALES

LOCALES = ROOT / "locales"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|\{(\w+)\}")
TRANSLATED = ("zh_Hans", "vi")
PYBABEL = str(Path(sys.executable).parent / "pybabel")


def catalog(name: str):  # type: ignore[no-untyped-def]
    with (LOCALES / name / "LC_MESSAGES" / "safesteps.po").open("rb") as f:
        return read_po(f, locale=name)


def placeholders(text: str) -> set[str]:
    return {a or b for a, b in PLACEHOLDER.findall(text)}


def test_template_and_catalogs_hold_the_same_messages() -> None:
    with (LOCALES / "safesteps.pot").open("rb") as f:
        template = {m.id for m in read_po(f) if m.id}
    for name in ("en", *TRANSLATED):
        assert {m.id for m in catalog(name) if m.id} == template, name


def test_the_template_is_up_to_date_with_the_code(tmp_path: Path) -> None:
    pot = tmp_path / "fresh.pot"
    subprocess.run(
        [PYBABEL, "extract", "-F", "babel.cfg", "-k", "lazy_gettext", "-o", str(pot),
         "--no-wrap", "."],
        cwd=ROOT, check=True, capture_output=True,
    )
    with pot.open("rb") as f:
        fresh = {m.id for m in read_po(f) if m.id}
    with (LOCALES / "safesteps.pot").open("rb") as f:
        committed = {m.id for m in read_po(f) if m.id}
    assert fresh == committed, "run: make i18n-update, then translate the new strings"


@pytest.mark.parametrize("name", TRANSLATED)
def test_every_message_is_translated_with_the_same_placeholders(name: str) -> None:
    for message in catalog(name):
        if not message.id:
            continue
        assert message.string, f"{name}: untranslated: {message.id}"
        assert "fuzzy" not in message.flags, f"{name}: fuzzy: {message.id}"
        assert placeholders(message.string) == placeholders(message.id), message.id


def test_catalogs_compile_without_errors(tmp_path: Path) -> None:
    result = subprocess.run(
        [PYBABEL, "compile", "-d", str(LOCALES),
         "-D", "safesteps", "--statistics", "-o", str(tmp_path / "x.mo"), "-i",
         str(LOCALES / "vi" / "LC_MESSAGES" / "safesteps.po")],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "error" not in result.stderr.lower()


@pytest.mark.parametrize(("locale", "expected"), [
    ("en", "Step 2 of 5"), ("zh-Hans", "第 2 步，共 5 步"), ("vi", "Bước 2/5"),
])
def test_translator_fills_named_placeholders(locale: str, expected: str) -> None:
    assert Translator(locale)("Step %(n)s of %(total)s", n=2, total=5) == expected


@pytest.mark.parametrize("locale", SHIPPED_LOCALES)
def test_babel_formats_for_the_users_locale(locale: str) -> None:
    date = format_date(dt.date(2026, 11, 28), locale)
    number = format_number(1234567.5, locale)
    expected_date = {"en": "November 28, 2026", "zh-Hans": "2026年11月28日",
                     "vi": "28 tháng 11, 2026"}[locale]
    expected_number = {"en": "1,234,567.5", "zh-Hans": "1,234,567.5", "vi": "1.234.567,5"}[locale]
    assert (date, number) == (expected_date, expected_number)
    assert country_name("VN", locale) == {"en": "Vietnam", "zh-Hans": "越南",
                                          "vi": "Việt Nam"}[locale]
    assert language_name("vi", locale) == {"en": "Vietnamese", "zh-Hans": "越南语",
                                           "vi": "Tiếng Việt"}[locale]


def test_language_names_in_their_own_language() -> None:
    assert [own_language_name(t) for t in SHIPPED_LOCALES] == [
        "English", "中文 (简体)", "Tiếng Việt"]
