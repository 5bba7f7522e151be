"""Typical volunteer mistakes: each gets a plain-language message at the right file:line:col.

Each case in golden/cases/ is the starter pack with one file changed the way volunteers get it
wrong; golden/cases/<case>/expected.txt is exactly what `safesteps validate` must say.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.content.validate import validate
from bot.settings import Settings
from tests.conftest import GOLDEN, GOLDEN_TODAY, update_golden

CASES = sorted(p for p in (GOLDEN / "cases").iterdir() if p.is_dir())


def validation_output(pack: Path) -> str:
    report = validate([pack], Settings(root=pack.parent), today=GOLDEN_TODAY)
    lines = [str(p) for p in report.errors + report.warnings]
    prefix = str(pack.resolve()) + "/"
    text = "\n".join(line.replace(prefix, "pack/") for line in lines) + "\n"
    return text.replace(str(pack) + "/", "pack/")


def test_there_are_at_least_fifteen_volunteer_mistakes() -> None:
    assert len(CASES) >= 15


def test_the_starter_pack_is_clean(starter_copy: Path) -> None:
    assert validation_output(starter_copy) == "\n"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_volunteer_mistake_is_explained(case: Path, starter_copy: Path) -> None:
    for changed in case.rglob("*"):
        if changed.is_file() and changed.name != "expected.txt":
            target = starter_copy / changed.relative_to(case)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(changed, target)
    output = validation_output(starter_copy)
    expected_file = case / "expected.txt"
    if update_golden() or not expected_file.exists():
        expected_file.write_text(output, encoding="utf-8")
    assert output == expected_file.read_text(encoding="utf-8")
    assert "Traceback" not in output
    first = output.splitlines()[0]
    # path:line:col: message, naming a real position.
    path, line, column, message = first.split(":", 3)
    assert path.startswith("pack/") and int(line) >= 1 and int(column) >= 1 and message.strip()
