"""The translators' round trip: status, PO export and import, and stamping source hashes."""

from __future__ import annotations

import datetime as dt
import io
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po
from pydantic import BaseModel

from bot.content import models
from bot.content.editing import FileEditor
from bot.content.packs import Pack
from bot.content.reading import LoadedFile, PathKey, field_label
from bot.content.rules import POLL_EXPLANATION_MAX, POLL_OPTION_MAX, POLL_QUESTION_MAX
from bot.content.translations import iter_texts, source_hash, text_status

PO_PROJECT = "SafeSteps content"


def _text(entry: Any) -> str | None:
    if entry is None:
        return None
    return entry if isinstance(entry, str) else str(entry.text)


def _translatable(pack: Pack) -> list[tuple[LoadedFile[Any], BaseModel]]:
    """Files with translatable texts, each with its model."""
    return [
        (f, f.model) for f in pack.all_files()
        if f.model is not None and not isinstance(f.model, models.UNTRANSLATED_MODELS)
    ]


def _context(file: LoadedFile[Any], path: PathKey) -> str:
    return f"{file.shown}#{'.'.join(str(p) for p in path)}"


def _parse_context(context: str) -> tuple[str, PathKey] | None:
    if "#" not in context:
        return None
    shown, _, dotted = context.rpartition("#")
    parts: list[str | int] = [int(p) if p.isdigit() else p for p in dotted.split(".") if p]
    return shown, tuple(parts)


def _limit_note(path: PathKey) -> str | None:
    names = [p for p in path if isinstance(p, str)]
    if "check" in names or path[:1] == ("questions",):
        if names[-1] == "question":
            return f"at most {POLL_QUESTION_MAX} characters (Telegram quiz question)"
        if names[-1] == "options":
            return f"at most {POLL_OPTION_MAX} characters (Telegram quiz option)"
        if names[-1] == "explanation":
            return (f"at most {POLL_EXPLANATION_MAX} characters and 2 line breaks "
                    "(Telegram quiz explanation)")
    return None


@dataclass
class LocaleStatus:
    total: int = 0
    states: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)


def translation_status(packs: list[Pack]) -> dict[str, LocaleStatus]:
    """How many texts are missing, stale, draft... in each locale."""
    out: dict[str, LocaleStatus] = {}
    for pack in packs:
        meta = pack.meta.model if pack.meta else None
        if meta is None:
            continue
        for _file, model in _translatable(pack):
            for _, value in iter_texts(model):
                for locale in meta.locales:
                    entry = out.setdefault(locale, LocaleStatus())
                    state = text_status(value, locale, meta.source_locale)
                    entry.total += 1
                    entry.states[state.state] += 1
                    if state.status:
                        entry.statuses[state.status] += 1
    return out


def export_po(packs: list[Pack], locale: str) -> str:
    """A PO file of every text of ``locale``: source, context, limits and current state."""
    catalog = Catalog(
        locale=locale.replace("-", "_"),
        project=PO_PROJECT,
        creation_date=dt.datetime.now(dt.timezone.utc),
        fuzzy=False,
    )
    for pack in packs:
        meta = pack.meta.model if pack.meta else None
        if meta is None or locale not in meta.locales or locale == meta.source_locale:
            continue
        for file, model in _translatable(pack):
            for path, value in iter_texts(model):
                source = _text(value.get(meta.source_locale))
                if not source:
                    continue
                state = text_status(value, locale, meta.source_locale)
                comments = [f"{field_label(path)} ({file.shown})"]
                limit = _limit_note(path)
                if limit:
                    comments.append(limit)
                if state.status:
                    comments.append(f"status: {state.status}")
                entry = value.get(locale)
                if isinstance(entry, models.Translation) and entry.note:
                    comments.append(f"note: {entry.note}")
                if state.state == "stale":
                    comments.append("the source text changed since this was translated")
                mark = file.mark(path)
                catalog.add(
                    source,
                    _text(value.get(locale)) or "",
                    locations=[(file.shown, mark.line)],
                    auto_comments=comments,
                    flags=["fuzzy"] if state.state == "stale" else [],
                    context=_context(file, path),
                )
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=0, sort_output=False)
    return buffer.getvalue().decode("utf-8")


@dataclass
class ImportResult:
    updated: int = 0
    unchanged: int = 0
    skipped_fuzzy: int = 0
    skipped_empty: int = 0
    not_found: list[str] = field(default_factory=list)
    files: set[str] = field(default_factory=set)


def import_po(po_text: bytes, locale: str | None, status: str, root: Path) -> ImportResult:
    """Write the translations of a PO file back into the pack files it came from."""
    catalog = read_po(io.BytesIO(po_text))
    target = locale or (str(catalog.locale).replace("_", "-") if catalog.locale else None)
    if not target:
        raise ValueError("the PO file does not say its language: pass --locale")
    result = ImportResult()
    editors: dict[str, FileEditor] = {}
    for message in catalog:
        if not message.id or not message.context:
            continue
        located = _parse_context(message.context)
        if located is None:
            result.not_found.append(message.context)
            continue
        shown, path = located
        translation = message.string if isinstance(message.string, str) else ""
        if message.fuzzy:
            result.skipped_fuzzy += 1
            continue
        if not translation.strip():
            result.skipped_empty += 1
            continue
        file_path = (root / shown).resolve()
        if not file_path.is_file() or root.resolve() not in file_path.parents:
            result.not_found.append(message.context)
            continue
        editor = editors.get(shown)
        if editor is None:
            editor = editors[shown] = FileEditor.open(file_path)
        digest = source_hash(str(message.id))
        current = editor.node(path)
        if current is None:
            result.not_found.append(message.context)
            continue
        if editor.translation_of(path, target) == (translation, digest):
            result.unchanged += 1
            continue
        if not editor.set_translation(path, target, translation, status, digest):
            result.not_found.append(message.context)
            continue
        result.updated += 1
    for shown, editor in editors.items():
        if editor.save():
            result.files.add(shown)
    return result


def stamp(files: list[LoadedFile[Any]], source_locale: str, refresh: bool) -> int:
    """Record the source hash on translations that have none (all of them with refresh)."""
    stamped = 0
    for file in files:
        if file.model is None:
            continue
        editor = FileEditor.open(file.path)
        for path, value in iter_texts(file.model):
            source = _text(value.get(source_locale))
            if source is None:
                continue
            for locale, entry in value.items():
                if locale == source_locale or not isinstance(entry, models.Translation):
                    continue
                if entry.source_hash is not None and not refresh:
                    continue
                digest = source_hash(source)
                if entry.source_hash == digest:
                    continue
                editor.set_translation(path, locale, None, None, digest)
                stamped += 1
        editor.save()
    return stamped
