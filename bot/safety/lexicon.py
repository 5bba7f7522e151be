"""Deterministic danger matching: the first thing every inbound message meets.

It must not depend on a model winning a classification, so it is plain text matching on a
normalised form of the message: case, accents and Vietnamese tone marks, width, invisible
characters and repeated spaces do not matter, because people in a hurry type without them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

_INVISIBLE = dict.fromkeys(
    map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u200e\u200f\u202a\u202b\u202c\u202d\u202e"),
    None,
)
_SPACES = re.compile(r"\s+")
_PUNCT_RUN = re.compile(r"([!?.,~])\1+")
_APOSTROPHES = dict.fromkeys(map(ord, "'\u2019\u2018`\u02bc"), None)


def normalise(text: str) -> str:
    """Fold a message for matching: NFKC, casefold, no accents, tone marks or apostrophes
    (``I'm`` = ``im``), single spaces."""
    text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE).casefold()
    text = text.translate(_APOSTROPHES)
    text = text.replace("đ", "d")
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    text = unicodedata.normalize("NFC", stripped)
    text = _PUNCT_RUN.sub(r"\1", text)
    return _SPACES.sub(" ", text).strip()


def _needs_word_boundaries(term: str) -> bool:
    """Whole-word matching only makes sense for scripts that separate words with spaces."""
    return all(ch.isascii() or unicodedata.category(ch)[0] != "L" or ord(ch) < 0x2E80
               for ch in term) and any(ch.isalnum() for ch in term)


@dataclass(frozen=True)
class Match:
    term: str
    kind: str


class DangerMatcher:
    """Matches messages against the entries of one or more lexicons."""

    def __init__(
        self,
        words: Iterable[str] = (),
        anywhere: Iterable[tuple[str, str]] = (),
    ) -> None:
        word_terms = sorted({normalise(w) for w in words if normalise(w)}, key=len, reverse=True)
        self._word_re = (
            re.compile(r"(?<!\w)(" + "|".join(map(re.escape, word_terms)) + r")(?!\w)")
            if word_terms
            else None
        )
        self._anywhere: list[tuple[str, str]] = []
        seen: set[str] = set()
        for term, kind in anywhere:
            folded = normalise(term)
            if folded and folded not in seen:
                seen.add(folded)
                self._anywhere.append((folded, kind))
        self._anywhere.sort(key=lambda item: len(item[0]), reverse=True)
        anywhere_terms = [t for t, _ in self._anywhere]
        self._anywhere_re = (
            re.compile("|".join(map(re.escape, anywhere_terms))) if anywhere_terms else None
        )
        self._kinds = dict(self._anywhere)

    @classmethod
    def from_lexicon(
        cls,
        words: Iterable[str],
        phrases: Iterable[str],
        misspellings: Iterable[str],
        emoji: Iterable[str],
    ) -> DangerMatcher:
        """Entries in scripts that separate words with spaces match whole words only (so
        "trafficking me" does not fire on "trafficking meaning"); others match anywhere."""
        whole: list[str] = []
        anywhere: list[tuple[str, str]] = []
        for kind, terms in (("word", words), ("phrase", phrases), ("misspelling", misspellings)):
            for term in terms:
                if _needs_word_boundaries(term):
                    whole.append(term)
                else:
                    anywhere.append((term, kind))
        anywhere += [(e, "emoji") for e in emoji]
        return cls(whole, anywhere)

    def find(self, text: str) -> Match | None:
        """The first entry found in ``text``, or None."""
        folded = normalise(text)
        if self._anywhere_re is not None:
            hit = self._anywhere_re.search(folded)
            if hit:
                return Match(hit.group(0), self._kinds.get(hit.group(0), "phrase"))
        if self._word_re is not None:
            hit = self._word_re.search(folded)
            if hit:
                return Match(hit.group(1), "word")
        return None
