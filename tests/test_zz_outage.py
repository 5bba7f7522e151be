"""Outages: the stack of the session loses its Rasa server (this module runs last, by name).

With Rasa gone, danger is still answered from the packs in memory, everything else gets an
apology with the menu, and /healthz says the assistant is not ready.
"""

from __future__ import annotations

import os
import signal
import time
import urllib.error
import urllib.request

import pytest

from tests.assistant_stack import Running, port_open
from tests.conftest import SHIPPED_LOCALES
from tests.test_assistant import WHAT_TO_DO, is_emergency, library, payloads, texts

pytestmark = pytest.mark.assistant


def test_danger_is_answered_even_when_rasa_is_down(stack: Running) -> None:
    """Last on purpose: stops the Rasa server of this stack."""
    rasa_pid = stack.state()["pids"]["Rasa server"]
    os.killpg(rasa_pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while port_open(stack.ports["rasa"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    for locale in SHIPPED_LOCALES:
        user = stack.new_user()
        lexicon = library().lexicons[locale]
        danger = stack.chat(user, lexicon.examples.danger[0], locale=locale)
        assert is_emergency(danger, locale)
        normal = stack.chat(user, "/menu", locale=locale)
        assert WHAT_TO_DO[locale] in texts(normal)  # the apology comes with the menu
        assert "/find_hotline" in payloads(normal)
    status, _ = stack.post({"user": "u", "text": "hello"})
    assert status == 200
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{stack.url}/healthz")
    with err.value:
        assert err.value.code == 503

