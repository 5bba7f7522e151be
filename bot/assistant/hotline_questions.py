"""Questions for a number ("which hotline in Viet Nam", "在中国举报拐卖打什么电话"): which
country they name, so that the answer is that country's hotline card, not an FAQ."""

from __future__ import annotations

import re
from functools import lru_cache

from babel import Locale

from bot.safety.lexicon import normalise

# Words that ask for a number to call, folded (no case, accents or tone marks).
NUMBER_CUES = (
    # en
    "number", "numbers", "hotline", "hotlines", "helpline", "line", "phone", "call", "dial",
    "ring", "contact",
    # zh-Hans (and pinyin)
    "电话", "号码", "热线", "打什么", "打几", "拨打", "拨几", "打给谁", "打哪个", "找谁", "报警",
    "求助", "dianhua", "haoma", "baojing",
    # vi
    "so dien thoai", "so nao", "so may", "goi so", "goi ai", "goi cho ai", "goi di dau",
    "duong day", "tong dai", "dien thoai", "so cong an", "so canh sat", "so khan cap",
)
# Other names people use for the countries SafeSteps has hotlines for.
ALIASES = {
    "CN": ("china", "prc", "mainland", "trung quoc", "中国", "大陆", "国内", "zhongguo"),
    "VN": ("vietnam", "viet nam", "越南", "yuenan"),
    "US": ("usa", "u.s.", "the us", "america", "united states", "the states", "美国", "my",
           "meiguo"),
    "GB": ("uk", "u.k.", "britain", "england", "scotland", "wales", "英国", "anh", "yingguo"),
    "TH": ("thailand", "泰国", "thai lan", "taiguo"),
    "KH": ("cambodia", "kampuchea", "柬埔寨", "campuchia", "jianpuzhai"),
    "LA": ("laos", "lao", "老挝", "laowo"),
    "MM": ("myanmar", "burma", "缅甸", "mien dien", "miandian"),
}
# Short aliases that are ordinary words elsewhere ("my", "anh") only count after these.
_AFTER = ("in", "o", "tai", "ben", "sang", "to", "from", "của", "cua")
_AMBIGUOUS = {"my", "anh", "lao"}


def _has(folded: str, term: str) -> bool:
    if all(ord(ch) < 0x2E80 for ch in term):
        return re.search(r"(?<!\w)" + re.escape(term) + r"(?!\w)", folded) is not None
    return term in folded


_FOLDED_CUES = tuple(normalise(cue) for cue in NUMBER_CUES)


def asks_for_number(text: str) -> bool:
    folded = normalise(text)
    return any(_has(folded, cue) for cue in _FOLDED_CUES)


@lru_cache(maxsize=16)
def _names(countries: tuple[str, ...], locales: tuple[str, ...]) -> list[tuple[str, str]]:
    names: list[tuple[str, str]] = []
    for code in countries:
        for locale in locales:
            name = Locale.parse(locale.replace("-", "_")).territories.get(code)
            if name:
                names.append((normalise(name), code))
        names += [(normalise(alias), code) for alias in ALIASES.get(code, ())]
    return sorted(set(names), key=lambda item: len(item[0]), reverse=True)


def named_country(text: str, countries: tuple[str, ...], locales: tuple[str, ...]
                  ) -> str | None:
    """The first of ``countries`` that ``text`` names, in any of ``locales`` or by a common
    other name; None when it names none."""
    folded = normalise(text)
    for name, code in _names(countries, locales):
        if name in _AMBIGUOUS:
            if any(_has(folded, f"{before} {name}") for before in _AFTER):
                return code
        elif _has(folded, name):
            return code
    return None
