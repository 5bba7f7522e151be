"""Hostile files are refused with a clear message, and the rest of the run still counts.

Each file lands in the starter pack beside a quiz with an ordinary mistake: both problems must be
reported, so one bad file never hides the others. Speed and memory of the refusals are measured
by `make bench` (docs/performance.md), not here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.content.validate import validate
from bot.settings import Settings
from tests.conftest import GOLDEN_TODAY, run_cli

ALIAS_BOMB = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(
        f"{chr(ord('b') + n)}: &{chr(ord('b') + n)} [{', '.join(['*' + chr(ord('a') + n)] * 9)}]\n"
        for n in range(8)
    )
)

HOSTILE: dict[str, tuple[bytes, str]] = {
    "code-execution-tag": (
        b'id: x\ntitle: !!python/object/apply:os.system ["echo pwned > /tmp/safesteps-pwned"]\n',
        "tags such as !!python/object/apply:os.system are not allowed in content packs",
    ),
    "custom-tag": (b"id: !include other.yml\n", "tags such as !include are not allowed"),
    "alias-bomb": (ALIAS_BOMB.encode(), "anchors (&name) are not allowed in content packs"),
    "twelve-megabytes": (b"id: big\nsteps:\n" + b"  - text: {en: " + b"a" * 12_000_000 + b"}\n",
                         "this file is 12.0 MB; pack files may be at most 1 MB"),
    "deep-nesting": (b"id: deep\nsteps: " + b"[" * 5000 + b"]" * 5000 + b"\n",
                     "values are nested more than 24 levels deep"),
    "invalid-utf8": (b"id: bad\ntitle:\n  en: caf\xe9 \xff\xfe\n",
                     "this file is not valid UTF-8 (byte 0xe9 here): save it as UTF-8"),
    "two-documents": (b"id: a\n---\nid: b\n", "a pack file holds one YAML document"),
    "nul-byte": (b"id: a\x00b\n", "an invisible control character (U+0000)"),
}


def _break_quiz(pack: Path) -> None:
    quiz = pack / "quizzes" / "stay-close-quiz.yml"
    quiz.write_text(quiz.read_text(encoding="utf-8").replace("answer: 1", "answer: 5"),
                    encoding="utf-8")


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_file_is_refused_and_others_still_checked(name: str, starter_copy: Path) -> None:
    content, expected = HOSTILE[name]
    hostile = starter_copy / "lessons" / "children" / f"{name}.yml"
    hostile.write_bytes(content)
    _break_quiz(starter_copy)
    report = validate([starter_copy], Settings(root=starter_copy.parent), today=GOLDEN_TODAY)
    messages = {Path(p.path).name: p for p in report.errors}
    assert expected in messages[hostile.name].message
    assert messages[hostile.name].line >= 1 and messages[hostile.name].column >= 1
    # The ordinary mistake in another file is still reported.
    assert "answer 5 points to no option" in messages["stay-close-quiz.yml"].message
    assert not Path("/tmp/safesteps-pwned").exists()


def test_hostile_file_through_the_cli_never_shows_a_traceback(starter_copy: Path) -> None:
    (starter_copy / "lessons" / "children" / "bomb.yml").write_text(ALIAS_BOMB)
    result = run_cli("validate", str(starter_copy))
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert "bomb.yml:1:4: anchors (&name) are not allowed" in result.stdout


def test_invalid_utf8_reports_the_line_and_column_of_the_bad_byte(starter_copy: Path) -> None:
    bad = starter_copy / "lessons" / "children" / "bad.yml"
    bad.write_bytes(b"id: bad\ntitle:\n  en: caf\xe9\n")
    report = validate([bad], Settings(root=starter_copy.parent), today=GOLDEN_TODAY)
    (problem,) = [p for p in report.errors if p.path.endswith("bad.yml")]
    assert (problem.line, problem.column) == (3, 10)
