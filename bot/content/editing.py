"""Write translations back into pack files without disturbing anything else.

Volunteers' files keep their comments, order and layout: changes are made as small text edits
at the positions the reader recorded, never by re-serialising the whole file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from bot.content.reading import PathKey
from bot.content.yamlsafe import Mapping, Mark, Node, Scalar, Sequence, parse_text

_NOWHERE = Mark(0, 0)


@dataclass
class Edit:
    start: int
    end: int
    text: str


def quoted(text: str) -> str:
    """A YAML double-quoted scalar for any text (JSON strings are valid YAML)."""
    return json.dumps(text, ensure_ascii=False)


def plain_or_quoted(word: str) -> str:
    """A short value written plain when YAML reads it back as the same text (a hash such as
    4151953e90 would be read as a number, so it is quoted)."""
    plain = Scalar(raw=word, plain=True, mark=_NOWHERE, end=_NOWHERE)
    if plain.resolve() == word and not plain.yaml11_boolean and word.isalnum():
        return word
    return quoted(word)


@dataclass
class FileEditor:
    """Collects edits to one file and applies them all at once."""

    path: Path
    text: str = ""
    root: Node | None = None
    edits: list[Edit] = field(default_factory=list)

    @classmethod
    def open(cls, path: Path) -> FileEditor:
        text = path.read_text(encoding="utf-8")
        return cls(path=path, text=text, root=parse_text(text).root)

    def node(self, path: PathKey) -> Node | None:
        current = self.root
        for part in path:
            if isinstance(current, Mapping) and isinstance(part, str):
                current = current.get(part)
            elif isinstance(current, Sequence) and isinstance(part, int):
                current = current.items[part] if 0 <= part < len(current.items) else None
            else:
                return None
        return current

    def _line_start_after(self, index: int) -> int:
        if index > 0 and self.text[index - 1] == "\n":
            return index
        newline = self.text.find("\n", index)
        return len(self.text) if newline < 0 else newline + 1

    def _replace_scalar(self, node: Scalar, value: str) -> None:
        end = node.end.index
        replacement = value
        if end > 0 and self.text[end - 1] == "\n":
            replacement += "\n"
        self.edits.append(Edit(node.mark.index, end, replacement))

    def _add_key(self, mapping: Mapping, key: str, value: str) -> None:
        if self.text[mapping.mark.index] == "{":
            close = self.text.rfind("}", mapping.mark.index, mapping.end.index)
            self.edits.append(Edit(close, close, f", {key}: {value}"))
            return
        indent = " " * (mapping.items[0][0].mark.column - 1)
        last_value = mapping.items[-1][1]
        at = self._line_start_after(last_value.end.index)
        prefix = "" if at == 0 or self.text[at - 1] == "\n" else "\n"
        self.edits.append(Edit(at, at, f"{prefix}{indent}{key}: {value}\n"))

    def translation_of(self, path: PathKey, locale: str) -> tuple[str, str | None] | None:
        """The (text, source_hash) of a translation as the file has it now."""
        localized = self.node(path)
        entry = localized.get(locale) if isinstance(localized, Mapping) else None
        if isinstance(entry, Scalar):
            return entry.raw, None
        if not isinstance(entry, Mapping):
            return None
        text, digest = entry.get("text"), entry.get("source_hash")
        if not isinstance(text, Scalar):
            return None
        return text.raw, digest.raw if isinstance(digest, Scalar) else None

    def set_translation(
        self, path: PathKey, locale: str, text: str | None, status: str | None, digest: str
    ) -> bool:
        """Set the translation at ``path`` (a localized text) in ``locale``.

        ``text``/``status`` None keep what is there. Returns False when the text is not found.
        """
        localized = self.node(path)
        if not isinstance(localized, Mapping) or not localized.items:
            return False
        entry = localized.get(locale)
        if isinstance(entry, Mapping):
            for key, value in (("text", text), ("status", status), ("source_hash", digest)):
                if value is None:
                    continue
                current = entry.get(key)
                rendered = quoted(value) if key == "text" else plain_or_quoted(value)
                if isinstance(current, Scalar):
                    if current.raw != value:
                        self._replace_scalar(current, rendered)
                else:
                    self._add_key(entry, key, rendered)
            return True
        if entry is not None and not isinstance(entry, Scalar):
            return False
        body = text if text is not None else (entry.raw if isinstance(entry, Scalar) else None)
        if body is None:
            return False
        flow = (
            f"{{text: {quoted(body)}, status: {status or 'draft'}, "
            f"source_hash: {plain_or_quoted(digest)}}}"
        )
        if isinstance(entry, Scalar):
            self._replace_scalar(entry, flow)
        else:
            self._add_key(localized, locale, flow)
        return True

    def save(self) -> bool:
        """Apply the edits; returns True when the file changed."""
        if not self.edits:
            return False
        text = self.text
        for edit in sorted(self.edits, key=lambda e: (e.start, e.end), reverse=True):
            text = text[: edit.start] + edit.text + text[edit.end :]
        parse_text(text)  # never write a file that no longer parses
        self.path.write_text(text, encoding="utf-8")
        self.text, self.edits = text, []
        return True
