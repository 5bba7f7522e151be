"""Turn one pack file into a typed model, with a position for every value.

Pydantic's messages are written for programmers; here each is rewritten for volunteers, naming
the field as they see it in their file (``steps #2 > text > vi``) and saying what to do.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from bot.content import models
from bot.content.problems import ProblemList
from bot.content.yamlsafe import Mapping, Mark, Node, Scalar, Sequence, YamlProblem, read_file

PathKey = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


@dataclass
class Positions:
    """Where each value (and each mapping key) of a file starts."""

    values: dict[PathKey, Mark] = field(default_factory=dict)
    keys: dict[PathKey, Mark] = field(default_factory=dict)

    def of(self, path: PathKey) -> Mark:
        """The position of ``path``, or of its nearest parent that exists."""
        for n in range(len(path), -1, -1):
            mark = self.values.get(path[:n])
            if mark is not None:
                return mark
        return Mark(1, 1)

    def of_key(self, path: PathKey) -> Mark:
        return self.keys.get(path) or self.of(path)


@dataclass
class LoadedFile(Generic[M]):
    """A pack file that was read: its model (None when it had errors) and positions."""

    path: Path
    shown: str
    model: M | None
    positions: Positions
    text: str = ""

    def mark(self, path: PathKey) -> Mark:
        return self.positions.of(path)


def to_python(node: Node, problems: ProblemList, shown: str) -> tuple[Any, Positions]:
    """Plain Python values from the node tree, recording positions along the way."""
    positions = Positions()
    # Iterative walk: (node, path, setter) so deep but legal files never recurse.
    root_holder: list[Any] = [None]
    todo: list[tuple[Node, PathKey, Any, Any]] = [(node, (), root_holder, 0)]
    while todo:
        current, path, parent, slot = todo.pop()
        positions.values[path] = current.mark
        if isinstance(current, Scalar):
            if current.yaml11_boolean:
                problems.add(
                    shown, current.mark.line, current.mark.column,
                    f'"{current.raw}" is read as true/false by many YAML tools: '
                    f'if you mean the word, write it in quotes: "{current.raw}"',
                )
            parent[slot] = current.resolve()
        elif isinstance(current, Mapping):
            out: dict[str, Any] = {}
            parent[slot] = out
            for key, value in current.items:
                name = str(key.resolve()) if key.plain else key.raw
                key_path = path + (name,)
                positions.keys[key_path] = key.mark
                out[name] = None
                todo.append((value, key_path, out, name))
        elif isinstance(current, Sequence):
            items: list[Any] = [None] * len(current.items)
            parent[slot] = items
            for n, value in enumerate(current.items):
                todo.append((value, (*path, n), items, n))
    return root_holder[0], positions


def field_label(path: PathKey) -> str:
    """A field path as volunteers read their file: ``steps #2 > text > vi``."""
    parts: list[str] = []
    for part in path:
        if isinstance(part, int):
            if parts:
                parts[-1] = f"{parts[-1]} #{part + 1}"
            else:
                parts.append(f"#{part + 1}")
        else:
            parts.append(str(part))
    return " > ".join(parts) if parts else "the file"


@lru_cache(maxsize=1)
def _known_fields() -> tuple[str, ...]:
    return tuple(sorted({name for model in models.ALL_MODELS for name in model.model_fields}))


def _description(name: str) -> str:
    for model in models.ALL_MODELS:
        info = model.model_fields.get(name)
        if info is not None and info.description:
            return info.description
    return ""


def _clean_path(loc: tuple[int | str, ...]) -> PathKey:
    """Drop pydantic's union branch names (``str``, ``Translation``...) from a location."""
    out: list[str | int] = []
    for part in loc:
        if isinstance(part, str) and (
            part in ("str", "Translation", "function-after[_answer_fits_type()]")
            or part.startswith(("function-", "constrained-", "json-or-python", "lax-or-strict"))
        ):
            continue
        out.append(part)
    return tuple(out)


def explain(
    error: ErrorDetails, known_fields: tuple[str, ...] | None = None
) -> tuple[PathKey, str, bool]:
    """A plain-language message for one pydantic error: (path, message, at_key)."""
    path = _clean_path(error["loc"])
    kind = error["type"]
    name = next((p for p in reversed(path) if isinstance(p, str)), "")
    label = field_label(path)
    given = error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "missing":
        about = _description(name)
        return path, f'"{label}" is missing' + (f": {about}" if about else ""), False
    if kind == "extra_forbidden":
        hint = difflib.get_close_matches(name, known_fields or _known_fields(), n=1, cutoff=0.6)
        suggestion = f' (did you mean "{hint[0]}"?)' if hint else ""
        return path, f'unknown field "{label}"{suggestion}: remove it or fix its name', True
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "")
        return path, f'"{label}" must be one of {expected}; found "{given}"', False
    if kind in ("string_type",):
        if isinstance(given, (dict, list)):
            return path, f'"{label}" should be a single text, not a list or mapping', False
        return path, f'"{label}" should be text: put it in quotes, such as "{given}"', False
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return path, f'"{label}" should be a whole number', False
    if kind == "list_type":
        return path, (
            f'"{label}" should be a list: one item per line, each starting with "- "'
        ), False
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return path, f'"{label}" should be a mapping of "key: value" lines', False
    if kind.startswith("date") or kind.startswith("datetime"):
        return path, f'"{label}" should be a date written as YYYY-MM-DD, such as 2026-11-28', False
    if kind == "too_short":
        return path, f'"{label}" needs at least {ctx.get("min_length")} item(s)', False
    if kind == "too_long":
        return path, f'"{label}" may have at most {ctx.get("max_length")} item(s)', False
    if kind == "bool_type" or kind == "bool_parsing":
        return path, f'"{label}" should be true or false', False
    if kind == "value_error":
        message = str(ctx.get("error", error["msg"]))
        where = f'"{label}": ' if path else ""
        return path, f"{where}{message}", False
    return path, f'"{label}": {error["msg"]}', False


def _without_other_union_branch(errors: list[ErrorDetails]) -> list[ErrorDetails]:
    """A localized value is plain text or a translation mapping: report only the branch the
    volunteer meant (a mapping was meant as a translation, anything else as text)."""
    given = {
        e["loc"][: e["loc"].index("str")]: e.get("input") for e in errors if "str" in e["loc"]
    }
    kept = []
    for error in errors:
        loc = error["loc"]
        marker = "str" if "str" in loc else "Translation" if "Translation" in loc else None
        if marker is not None:
            value = given.get(loc[: loc.index(marker)])
            if (marker == "str") == isinstance(value, dict):
                continue
        kept.append(error)
    return kept


def load_model(
    path: Path, shown: str, model: type[M], problems: ProblemList
) -> LoadedFile[M]:
    """Read, check and type one file; every problem goes into ``problems``."""
    try:
        document = read_file(path)
    except YamlProblem as err:
        problems.add(shown, err.mark.line, err.mark.column, err.message)
        return LoadedFile(path, shown, None, Positions())
    except OSError as err:
        problems.add(shown, 1, 1, f"cannot read this file ({err.strerror})")
        return LoadedFile(path, shown, None, Positions())
    for key, mark, first in document.duplicate_keys:
        problems.add(
            shown, mark.line, mark.column,
            f'"{key}" appears twice in the same place (first on line {first.line}): '
            "keep one, or the second silently replaces the first",
        )
    if document.root is None:
        problems.add(shown, 1, 1, "this file is empty: see docs/content-format.md for an example")
        return LoadedFile(path, shown, None, Positions(), document.text)
    data, positions = to_python(document.root, problems, shown)
    if not isinstance(data, dict):
        problems.add(
            shown, 1, 1,
            'this file should be a mapping of "key: value" lines, such as id: my-lesson',
        )
        return LoadedFile(path, shown, None, positions, document.text)
    try:
        parsed = model.model_validate(data)
    except ValidationError as err:
        seen: set[tuple[PathKey, str]] = set()
        for detail in _without_other_union_branch(err.errors(include_url=False)):
            where, message, at_key = explain(detail)
            if (where, message) in seen:
                continue
            seen.add((where, message))
            mark = positions.of_key(where) if at_key else positions.of(where)
            problems.add(shown, mark.line, mark.column, message)
        return LoadedFile(path, shown, None, positions, document.text)
    return LoadedFile(path, shown, parsed, positions, document.text)
