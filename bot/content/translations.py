"""Translation bookkeeping: fingerprints of source texts and a walk over every text."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from bot.content.models import Translation

PathKey = tuple[str | int, ...]
TextState = Literal["source", "missing", "stale", "unstamped", "fresh"]

_SPACES = re.compile(r"\s+")


def source_hash(text: str) -> str:
    """A short fingerprint of a source text; spacing changes do not change it."""
    folded = _SPACES.sub(" ", text).strip()
    return hashlib.sha256(folded.encode("utf-8")).hexdigest()[:10]


def is_localized(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and bool(value)
        and all(isinstance(v, (str, Translation)) for v in value.values())
    )


def iter_texts(model: BaseModel, path: PathKey = ()) -> Iterator[tuple[PathKey, dict[str, Any]]]:
    """Every localized text of a model with its path in the file, in file order."""
    for name in type(model).model_fields:
        value = getattr(model, name)
        yield from _walk(value, (*path, name))


def _walk(value: Any, path: PathKey) -> Iterator[tuple[PathKey, dict[str, Any]]]:
    if isinstance(value, Translation):
        return
    if isinstance(value, BaseModel):
        yield from iter_texts(value, path)
    elif is_localized(value):
        yield path, value
    elif isinstance(value, list):
        for n, item in enumerate(value):
            yield from _walk(item, (*path, n))


@dataclass(frozen=True)
class TextStatus:
    state: TextState
    status: str | None


def text_status(value: dict[str, Any], locale: str, source_locale: str) -> TextStatus:
    """How the text ``value`` stands in ``locale`` against the source locale."""
    entry = value.get(locale)
    if locale == source_locale:
        return TextStatus("source" if entry is not None else "missing", None)
    if entry is None:
        return TextStatus("missing", None)
    if isinstance(entry, str):
        return TextStatus("unstamped", None)
    source = value.get(source_locale)
    source_text = source if isinstance(source, str) else getattr(source, "text", None)
    if entry.source_hash is None or source_text is None:
        return TextStatus("unstamped", entry.status)
    if entry.source_hash != source_hash(source_text):
        return TextStatus("stale", entry.status)
    return TextStatus("fresh", entry.status)
