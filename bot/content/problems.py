"""Problems found in content packs, reported as ``path:line:col: message``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Problem:
    path: str
    line: int
    column: int
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        label = "" if self.severity == "error" else "warning: "
        return f"{self.path}:{self.line}:{self.column}: {label}{self.message}"

    def as_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "message": self.message,
        }


def display_path(path: Path, root: Path | None = None) -> str:
    """A path as the user typed it: relative to the working folder when possible."""
    base = root or Path.cwd()
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)


class ProblemList:
    """Collects every problem of a run, so that all are reported at once."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(
        self, path: str, line: int, column: int, message: str, severity: Severity = "error"
    ) -> None:
        self.items.append(Problem(path, line, column, message, severity))

    @property
    def errors(self) -> list[Problem]:
        return sorted(p for p in self.items if p.severity == "error")

    @property
    def warnings(self) -> list[Problem]:
        return sorted(p for p in self.items if p.severity == "warning")
