"""Shared fixtures: the project's folders, a fixed 'today' for dated rules, and the CLI."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STARTER_PACK = ROOT / "examples" / "starter-pack"
GOLDEN = Path(__file__).resolve().parent / "golden"
# Golden outputs are computed as of this date, so that they do not age with the calendar.
GOLDEN_TODAY = dt.date(2026, 11, 28)
SHIPPED_LOCALES = ("en", "zh-Hans", "vi")


@pytest.fixture
def starter_copy(tmp_path: Path) -> Path:
    """A fresh copy of the starter pack to break on purpose."""
    target = tmp_path / "pack"
    shutil.copytree(STARTER_PACK, target)
    return target


def run_cli(*args: str, cwd: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `python -m bot ARGS` as a user would, capturing its output."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, check=False,
    )


def update_golden() -> bool:
    """Set SAFESTEPS_UPDATE_GOLDEN=1 to rewrite golden files after reviewing a change."""
    return os.environ.get("SAFESTEPS_UPDATE_GOLDEN") == "1"
