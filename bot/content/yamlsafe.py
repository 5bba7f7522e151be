"""A hardened YAML reader for volunteer-edited content packs.

Packs are read event by event (no recursion, no object construction), so hostile files are
refused early: anchors, aliases and tags are rejected outright, depth and size are capped, keys
must be unique, and plain words that YAML 1.1 reads as booleans are flagged. Every value keeps its
line and column so that problems can be reported as ``path:line:col: message``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    NodeEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

# libyaml's parser when PyYAML has it (several times faster); the same events either way.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_FILE_BYTES = 1_000_000
MAX_DEPTH = 24
MAX_NODES = 200_000
TOO_DEEP = (
    f"values are nested more than {MAX_DEPTH} levels deep: a pack never needs this much nesting"
)

YAML11_BOOLEANS = frozenset(
    {"y", "n", "yes", "no", "on", "off", "true", "false"}
)
_INT = re.compile(r"^[-+]?(0|[1-9][0-9]*)$")
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_NULL = frozenset({"", "~", "null", "Null", "NULL"})


@dataclass(frozen=True)
class Mark:
    """A position in a file, counted from 1 as editors show it."""

    line: int
    column: int
    index: int = 0


@dataclass
class Scalar:
    """A plain or quoted value as written, with its position."""

    raw: str
    plain: bool
    mark: Mark
    end: Mark

    def resolve(self) -> str | int | float | bool | None:
        """Read the value with YAML 1.2 rules (``yes``/``no`` stay words)."""
        if not self.plain:
            return self.raw
        if self.raw in _NULL:
            return None
        if self.raw in ("true", "True", "TRUE"):
            return True
        if self.raw in ("false", "False", "FALSE"):
            return False
        if _INT.match(self.raw):
            return int(self.raw)
        if _FLOAT.match(self.raw) and any(ch.isdigit() for ch in self.raw):
            return float(self.raw)
        return self.raw

    @property
    def yaml11_boolean(self) -> bool:
        """True for plain words that YAML 1.1 tools read as true/false (``no``, ``On``...)."""
        return self.plain and self.raw.lower() in YAML11_BOOLEANS - {"true", "false"}


@dataclass
class Mapping:
    """A mapping in file order; keys are scalars kept with their positions."""

    mark: Mark
    end: Mark
    items: list[tuple[Scalar, Node]] = field(default_factory=list)

    def get(self, key: str) -> Node | None:
        for k, v in self.items:
            if k.raw == key:
                return v
        return None

    def key_node(self, key: str) -> Scalar | None:
        for k, _ in self.items:
            if k.raw == key:
                return k
        return None


@dataclass
class Sequence:
    mark: Mark
    end: Mark
    items: list[Node] = field(default_factory=list)


Node = Scalar | Mapping | Sequence


class YamlProblem(Exception):
    """A file that cannot be read as a safe content-pack file."""

    def __init__(self, message: str, mark: Mark | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark or Mark(1, 1)


@dataclass
class Document:
    """A parsed file: its root node, text, and warnings that did not stop parsing."""

    root: Node | None
    text: str
    duplicate_keys: list[tuple[str, Mark, Mark]] = field(default_factory=list)


def _mark(m: Any) -> Mark:
    if m is None:
        return Mark(1, 1)
    return Mark(m.line + 1, m.column + 1, m.index)


def decode_utf8(data: bytes) -> str:
    """Decode UTF-8, reporting the line and column of the first bad byte."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        good = data[: err.start].decode("utf-8", errors="replace")
        line = good.count("\n") + 1
        column = len(good) - (good.rfind("\n") + 1) + 1
        raise YamlProblem(
            f"this file is not valid UTF-8 (byte 0x{data[err.start]:02x} here): "
            "save it as UTF-8 in your editor",
            Mark(line, column, err.start),
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


def read_file(path: Path) -> Document:
    """Read and parse one pack file, refusing anything unsafe or oversized."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise YamlProblem(
            f"this file is {size / 1_000_000:.1f} MB; pack files may be at most "
            f"{MAX_FILE_BYTES // 1_000_000} MB: split it into several files"
        )
    with path.open("rb") as f:
        data = f.read(MAX_FILE_BYTES + 1)
    return parse_text(decode_utf8(data))


def _explain_yaml_error(err: yaml.MarkedYAMLError, text: str) -> YamlProblem:
    mark = _mark(err.problem_mark)
    problem = err.problem or str(err)
    line_text = text.splitlines()[mark.line - 1] if mark.line - 1 < len(text.splitlines()) else ""
    if "\t" in problem or "'\\t'" in problem or ("\t" in line_text[: mark.column]):
        return YamlProblem(
            "a tab character is used for indentation: YAML needs spaces; "
            "replace each tab with two spaces",
            mark,
        )
    if "maximum nesting depth" in problem:
        return YamlProblem(TOO_DEEP, mark)
    if "mapping values are not allowed" in problem:
        return YamlProblem(
            'a text contains ": " but is not in quotes: put the whole text in double quotes '
            '("...") or use a folded block (key: >-)',
            mark,
        )
    if "expected <block end>" in problem or "did not find expected" in problem:
        return YamlProblem(
            "the indentation here does not line up with the lines above: check that items "
            "of the same list or mapping start in the same column",
            mark,
        )
    if "could not find expected ':'" in problem:
        return YamlProblem(
            'a line here is neither "key: value" nor a list item "- ...": '
            "check for a missing colon or a text that should be indented under its key",
            mark,
        )
    if "found character" in problem and "cannot start any token" in problem:
        return YamlProblem(
            f"{problem}: put this text in double quotes",
            mark,
        )
    if "found unexpected end of stream" in problem or "found unknown escape" in problem:
        return YamlProblem(f"{problem}: check the quotes on this text", mark)
    return YamlProblem(f"this is not valid YAML ({problem})", mark)


def parse_text(text: str) -> Document:
    """Build the node tree from YAML events without recursion."""
    doc = Document(root=None, text=text)
    stack: list[Mapping | Sequence] = []
    pending_keys: list[Scalar | None] = []
    documents = 0
    nodes = 0
    try:
        loader = _Loader(text)
        while True:
            event = loader.get_event()
            if isinstance(event, StreamEndEvent):
                break
            if isinstance(event, DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise YamlProblem(
                        "a pack file holds one YAML document: remove the second '---'",
                        _mark(event.start_mark),
                    )
                continue
            if isinstance(event, AliasEvent):
                raise YamlProblem(
                    "aliases (*name) are not allowed in content packs: write the text out again",
                    _mark(event.start_mark),
                )
            if isinstance(event, NodeEvent):
                if event.anchor is not None:
                    raise YamlProblem(
                        "anchors (&name) are not allowed in content packs: write the text out "
                        "again where you need it",
                        _mark(event.start_mark),
                    )
                tag = getattr(event, "tag", None)
                if tag is not None:
                    shown = tag.replace("tag:yaml.org,2002:", "!!")
                    raise YamlProblem(
                        f"tags such as {shown} are not allowed in content packs: "
                        "a pack holds plain text, numbers and lists only",
                        _mark(event.start_mark),
                    )
                nodes += 1
                if nodes > MAX_NODES:
                    raise YamlProblem(
                        f"this file has more than {MAX_NODES} values: split it into several files",
                        _mark(event.start_mark),
                    )
            node: Node | None = None
            if isinstance(event, ScalarEvent):
                node = Scalar(
                    raw=event.value,
                    plain=not event.style,
                    mark=_mark(event.start_mark),
                    end=_mark(event.end_mark),
                )
            elif isinstance(event, (MappingStartEvent, SequenceStartEvent)):
                if len(stack) >= MAX_DEPTH:
                    raise YamlProblem(TOO_DEEP, _mark(event.start_mark))
                container: Mapping | Sequence
                if isinstance(event, MappingStartEvent):
                    container = Mapping(_mark(event.start_mark), _mark(event.end_mark))
                else:
                    container = Sequence(_mark(event.start_mark), _mark(event.end_mark))
                _attach(stack, pending_keys, container, doc)
                stack.append(container)
                pending_keys.append(None)
                continue
            elif isinstance(event, (MappingEndEvent, SequenceEndEvent)):
                finished = stack.pop()
                finished.end = _mark(event.end_mark)
                pending_keys.pop()
                if not stack:
                    doc.root = finished
                continue
            if node is not None:
                if not stack:
                    doc.root = node
                else:
                    _attach(stack, pending_keys, node, doc)
    except yaml.MarkedYAMLError as err:
        raise _explain_yaml_error(err, text) from None
    except yaml.reader.ReaderError as err:
        before = text[: err.position]
        line = before.count("\n") + 1
        column = err.position - (before.rfind("\n") + 1) + 1
        raise YamlProblem(
            f"this file contains an invisible control character (U+{err.character:04X}) "
            "that YAML does not allow: delete it (retyping the line removes it)",
            Mark(line, column, err.position),
        ) from None
    except yaml.YAMLError as err:
        raise YamlProblem(f"this is not valid YAML ({err})") from None
    return doc


def _attach(
    stack: list[Mapping | Sequence],
    pending_keys: list[Scalar | None],
    node: Node,
    doc: Document,
) -> None:
    if not stack:
        doc.root = node
        return
    parent = stack[-1]
    if isinstance(parent, Sequence):
        parent.items.append(node)
        return
    key = pending_keys[-1]
    if key is None:
        if not isinstance(node, Scalar):
            raise YamlProblem(
                "a key here is a list or mapping: keys must be plain names such as title",
                node.mark,
            )
        pending_keys[-1] = node
        return
    for existing, _ in parent.items:
        if existing.raw == key.raw:
            doc.duplicate_keys.append((key.raw, key.mark, existing.mark))
            break
    parent.items.append((key, node))
    pending_keys[-1] = None
