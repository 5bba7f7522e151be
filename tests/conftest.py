"""Shared fixtures: the project's folders, a fixed 'today' for dated rules, and the CLI."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.assistant_stack import Running

ROOT = Path(__file__).resolve().parent.parent
STARTER_PACK = ROOT / "examples" / "starter-pack"
GOLDEN = Path(__file__).resolve().parent / "golden"
# Golden outputs are computed as of this date, so that they do not age with the calendar.
GOLDEN_TODAY = dt.date(2026, 11, 28)
SHIPPED_LOCALES = ("en", "zh-Hans", "vi")
CANARY = "canary-7f3a9c-private-words"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


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


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """The whole SafeSteps stack, started once for the session by `safesteps up`."""
    from tests.assistant_stack import (
        TELEGRAM_TOKEN,
        port_open,
        start_stack,
        stop_stack,
        train_model,
    )

    train_model()
    running = start_stack(tmp_path_factory.mktemp("stack"))
    yield running
    code = stop_stack(running)
    log = running.log.read_text()
    assert code == 0, log
    assert "Stopped: every SafeSteps process has ended." in log
    for port in running.ports.values():
        assert not port_open(port), f"port {port} is still open after Ctrl-C"
    # Nothing a user typed, and no raw user id, ever reaches the logs.
    assert CANARY not in log
    assert TELEGRAM_TOKEN.split(":")[1] not in log
    assert "7700000" not in log  # no Telegram user id (tests/test_telegram.py) either
    for user in running.users:
        assert user not in log


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium, driven by Playwright (the web chat and classroom pages)."""
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: run make setup-browser")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                     headless=True)
        yield launched
        launched.close()
