"""Interface strings (gettext catalogs in ``locales/``) and locale-aware formatting (Babel).

Pack text never goes through gettext: it is translated in the packs. Locales are BCP 47 tags
(``zh-Hans``) everywhere in the kit; Babel and gettext folders use ``zh_Hans``.
"""

from __future__ import annotations

import datetime as dt
import gettext
from functools import lru_cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_date as babel_format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import LazyProxy, Translations

DOMAIN = "safesteps"
LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
FALLBACK_LOCALE = "en"


def babel_name(tag: str) -> str:
    """``zh-Hans`` → ``zh_Hans``: the name Babel and gettext folders use."""
    return tag.replace("-", "_")


def parse_locale(tag: str) -> Locale:
    """A Babel locale for a BCP 47 tag; English when the tag is unknown."""
    try:
        return Locale.parse(tag, sep="-")
    except (UnknownLocaleError, ValueError):
        return Locale.parse(FALLBACK_LOCALE)


@lru_cache(maxsize=32)
def translations(tag: str) -> gettext.NullTranslations:
    """The interface catalog for ``tag``: the compiled .mo, else the .po read directly."""
    folder = LOCALES_DIR / babel_name(tag) / "LC_MESSAGES"
    mo = folder / f"{DOMAIN}.mo"
    po = folder / f"{DOMAIN}.po"
    if mo.is_file() and (not po.is_file() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as f:
            return Translations(f, domain=DOMAIN)
    if po.is_file():
        from io import BytesIO

        with po.open("rb") as f:
            catalog = read_po(f, locale=babel_name(tag))
        buffer = BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        return Translations(buffer, domain=DOMAIN)
    return gettext.NullTranslations()


class Translator:
    """Interface strings for one locale: ``_("Next")``, ``_("Step %(n)s", n=2)``."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self._catalog = translations(tag)

    def gettext(self, message: str, **values: object) -> str:
        text = self._catalog.gettext(message)
        return text % values if values else text

    def ngettext(self, singular: str, plural: str, n: int, **values: object) -> str:
        text = self._catalog.ngettext(singular, plural, n)
        return text % {"n": n, **values}

    __call__ = gettext


def lazy_gettext(message: str) -> LazyProxy:
    """Mark a string for translation where no locale is known yet (``__("Menu")``)."""
    return LazyProxy(lambda: message, enable_cache=False)


def format_date(value: dt.date, tag: str) -> str:
    return babel_format_date(value, format="long", locale=parse_locale(tag))


def format_number(value: float, tag: str) -> str:
    return format_decimal(value, locale=parse_locale(tag))


def country_name(code: str, tag: str) -> str:
    return str(parse_locale(tag).territories.get(code, code))


def language_name(language: str, tag: str) -> str:
    """The name of ``language`` in the language of ``tag`` (``vi`` in zh-Hans → 越南语)."""
    try:
        other = Locale.parse(language, sep="-")
    except (UnknownLocaleError, ValueError):
        return language
    name = other.get_display_name(parse_locale(tag))
    return name or language


def own_language_name(language: str) -> str:
    """A language's name in itself, for language pickers (Tiếng Việt, 中文（简体）)."""
    return language_name(language, language)
