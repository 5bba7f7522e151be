"""Find the files of a pack and read each into its model."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.content import models
from bot.content.problems import ProblemList, display_path
from bot.content.reading import LoadedFile, load_model

KIND_FOLDERS = {"lessons": "lesson", "faqs": "faq", "hotlines": "hotlines", "safety": "lexicon",
                "safety-examples": "safety_examples"}
YAML_SUFFIXES = (".yml", ".yaml")


@dataclass
class PackLocation:
    """Where a pack's files are: its content folder and its quizzes folder."""

    content: Path
    quizzes: Path | None

    @classmethod
    def for_folder(cls, content: Path, quizzes: Path | None = None) -> PackLocation:
        """A pack folder; quizzes default to a ``quizzes`` folder inside it."""
        if quizzes is None and (content / "quizzes").is_dir():
            quizzes = content / "quizzes"
        return cls(content, quizzes)

    def owns(self, path: Path) -> bool:
        path = path.resolve()
        roots = [self.content.resolve()] + ([self.quizzes.resolve()] if self.quizzes else [])
        return any(path == r or r in path.parents for r in roots)


@dataclass
class Pack:
    """Every file of one pack, read. Models are None where a file had errors."""

    location: PackLocation
    meta: LoadedFile[models.PackMeta] | None = None
    lessons: list[LoadedFile[models.Lesson]] = field(default_factory=list)
    quizzes: list[LoadedFile[models.Quiz]] = field(default_factory=list)
    faqs: list[LoadedFile[models.FaqFile]] = field(default_factory=list)
    hotlines: list[LoadedFile[models.CountryHotlines]] = field(default_factory=list)
    lexicons: list[LoadedFile[models.Lexicon]] = field(default_factory=list)
    safety_examples: list[LoadedFile[models.SafetyExamples]] = field(default_factory=list)
    unknown: list[Path] = field(default_factory=list)

    def all_files(self) -> list[LoadedFile[Any]]:
        files: list[LoadedFile[Any]] = [self.meta] if self.meta else []
        for group in (self.lessons, self.quizzes, self.faqs, self.hotlines, self.lexicons,
                      self.safety_examples):
            files.extend(group)
        return files


def yaml_files(folder: Path) -> list[Path]:
    """YAML files under ``folder`` in a stable order; hidden files and folders are skipped."""
    if not folder.is_dir():
        return []
    found = [
        p for p in folder.rglob("*")
        if p.suffix in YAML_SUFFIXES and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]
    return sorted(found)


def kind_of(path: Path, location: PackLocation) -> str | None:
    """What a file is, from the folder it sits in."""
    if location.quizzes and location.quizzes.resolve() in path.resolve().parents:
        return "quiz"
    if path.resolve() == (location.content / "pack.yml").resolve():
        return "pack"
    try:
        relative = path.resolve().relative_to(location.content.resolve())
    except ValueError:
        return None
    if len(relative.parts) >= 2:
        return KIND_FOLDERS.get(relative.parts[0])
    return None


def load_pack(location: PackLocation, problems: ProblemList, root: Path | None = None) -> Pack:
    """Read every file of the pack at ``location``."""
    pack = Pack(location)
    files = yaml_files(location.content)
    if location.quizzes and location.quizzes.resolve() != location.content.resolve():
        files += [f for f in yaml_files(location.quizzes) if f not in files]
    meta_path = location.content / "pack.yml"
    if not meta_path.is_file():
        problems.add(
            display_path(location.content, root), 1, 1,
            "this pack has no pack.yml: every pack needs one (see docs/content-format.md)",
        )
    for path in files:
        shown = display_path(path, root)
        kind = kind_of(path, location)
        if kind == "pack":
            pack.meta = load_model(path, shown, models.PackMeta, problems)
        elif kind == "lesson":
            pack.lessons.append(load_model(path, shown, models.Lesson, problems))
        elif kind == "quiz":
            pack.quizzes.append(load_model(path, shown, models.Quiz, problems))
        elif kind == "faq":
            pack.faqs.append(load_model(path, shown, models.FaqFile, problems))
        elif kind == "hotlines":
            pack.hotlines.append(load_model(path, shown, models.CountryHotlines, problems))
        elif kind == "lexicon":
            pack.lexicons.append(load_model(path, shown, models.Lexicon, problems))
        elif kind == "safety_examples":
            pack.safety_examples.append(
                load_model(path, shown, models.SafetyExamples, problems))
        else:
            pack.unknown.append(path)
            problems.add(
                shown, 1, 1,
                "SafeSteps does not know what this file is: lessons go in lessons/<audience>/, "
                "FAQs in faqs/, hotlines in hotlines/, lexicons in safety/, the danger detector's "
                "examples in safety-examples/, quizzes in the pack's quizzes folder",
                "warning",
            )
    return pack
