"""`make bench`: measure SafeSteps' speed and memory and write docs/performance.md.

Every figure is measured on this machine in this run; the machine is described at the top of
the report. Tests never assert timings: this is where they are recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.test_hostile_yaml import HOSTILE  # noqa: E402

REPORT = ROOT / "docs" / "performance.md"
SAFETY_REPORT = ROOT / "docs" / "safety.md"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (f"{cpu}, {os.cpu_count()} cores{memory}; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}")


def run_measured(args: list[str], cwd: Path = ROOT) -> tuple[float, float, int]:
    """Run a command; return (seconds, peak RSS in MB, exit code) of that process alone."""
    started = time.perf_counter()
    process = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return elapsed, usage.ru_maxrss / 1024, process.returncode


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def bench_validation() -> list[str]:
    from bot.content.validate import validate
    from bot.settings import load_settings

    settings = load_settings(ROOT)
    report = validate(None, settings)
    files = sum(len(p.all_files()) for p in report.packs)
    warm = timed(lambda: validate(None, settings), 5)
    cold = [run_measured([sys.executable, "-m", "bot", "validate", "--strict"])
            for _ in range(3)]
    return [
        "## Validating the shipped packs",
        "",
        f"{files} pack files (`safesteps validate --strict`).",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| whole command, start to exit (median of 3) | "
        f"{statistics.median(c[0] for c in cold):.2f} s |",
        f"| peak memory of the command | {max(c[1] for c in cold):.0f} MB |",
        f"| validation alone, in process (median of 5) | {statistics.median(warm):.2f} s |",
        "",
    ]


def bench_hostile() -> list[str]:
    lines = [
        "## Hostile files",
        "",
        "Each file is placed in a copy of the starter pack and the pack is validated by the",
        "command (`python -m bot validate PACK`). Target: refused within 1 s and 200 MB.",
        "",
        "| file | size | exit code | time | peak memory |",
        "| --- | --- | --- | --- | --- |",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for name, (content, _message) in sorted(HOSTILE.items()):
            pack = Path(tmp) / name
            shutil.copytree(ROOT / "examples" / "starter-pack", pack)
            (pack / "lessons" / "children" / f"{name}.yml").write_bytes(content)
            seconds, rss, code = run_measured(
                [sys.executable, "-m", "bot", "validate", str(pack)])
            size = f"{len(content) / 1_000_000:.1f} MB" if len(content) > 100_000 else \
                f"{len(content)} B"
            lines.append(f"| {name} | {size} | {code} | {seconds:.2f} s | {rss:.0f} MB |")
    baseline = run_measured([sys.executable, "-m", "bot", "validate",
                             str(ROOT / "examples" / "starter-pack")])
    lines += [
        "",
        f"For comparison, the clean starter pack: {baseline[0]:.2f} s, {baseline[1]:.0f} MB "
        "(most of both is starting Python and importing the kit).",
        "",
    ]
    return lines


def bench_setup() -> list[str]:
    seconds, _rss, code = run_measured(["bash", "scripts/setup.sh"])
    return [
        "## Setup",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| `make setup` when everything is in place (exit {code}) | {seconds:.1f} s |",
        "",
        "A first setup on a fresh clone depends on the network and the pip cache; the figure",
        "measured for the release is in the closing notes of the issue that changed it.",
        "",
    ]


def bench_safety() -> list[str]:
    from bot.content.library import ContentLibrary
    from bot.safety.layer import SafetyLayer
    from bot.settings import load_settings

    settings = load_settings(ROOT)
    library = ContentLibrary.load(settings)
    layer = SafetyLayer.for_chat(library, settings)
    messages = [m for lex in library.lexicons.values() for m in lex.examples.danger]
    ordinary = [m for lex in library.lexicons.values() for m in lex.examples.safe]
    check = [t * 1000 for t in timed_each(lambda m: layer.assess(m), messages + ordinary)]
    reply = [t * 1000 for t in timed_each(
        lambda m: layer.emergency_reply("vi", "CN") if layer.assess(m).tier else None,
        messages)]
    return [
        "## Safety layer alone (no Rasa)",
        "",
        f"{len(messages)} danger and {len(ordinary)} ordinary messages, every lexicon of every "
        "locale, read by the lexicons and the danger detector. Target: danger answered in "
        "< 5 ms (and the detector's p99 ≤ 20 ms).",
        "",
        "| measure | p50 | p99 | max |",
        "| --- | --- | --- | --- |",
        f"| check a message | {percentile(check, .5):.3f} ms | {percentile(check, .99):.3f} ms | "
        f"{max(check):.3f} ms |",
        f"| check and render the danger reply | {percentile(reply, .5):.3f} ms | "
        f"{percentile(reply, .99):.3f} ms | {max(reply):.3f} ms |",
        "",
    ]


def bench_false_alarms() -> list[str]:
    from bot.assistant.kit import load_kit_examples
    from bot.content.library import ContentLibrary
    from bot.content.models import text_in
    from bot.content.problems import ProblemList
    from bot.content.translations import iter_texts
    from bot.safety.layer import SafetyLayer
    from bot.settings import load_settings

    settings = load_settings(ROOT)
    library = ContentLibrary.load(settings)
    layer = SafetyLayer.for_chat(library, settings)
    kit = load_kit_examples(ProblemList())
    lines = [
        "## Safety layer: false alarms on ordinary messages",
        "",
        "How often the safety layer gives the emergency reply to messages that are not danger. "
        "Ordinary user messages: every FAQ phrasing and every example of the kit's other "
        "intents (the detector learnt from these, so this shows fit, not generalisation: "
        "docs/safety.md has the figures on messages it never saw). Lesson and quiz text: every "
        "text of every lesson and quiz, as if a user pasted it back (never learnt from).",
        "",
        "| locale | user messages | false alarms | rate | lesson and quiz texts | fired | rate |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for locale in library.locales:
        user = [e for faq in library.faqs.values() for e in faq.examples.get(locale, [])]
        user += [e for intent, examples in kit[locale].intents.items() if intent != "danger"
                 for e in examples]
        content = [
            text for model in [*library.lessons.values(), *library.quizzes.values()]
            for _, value in iter_texts(model) if (text := text_in(value, locale))
        ]
        fired_user = sum(layer.assess(m, locale).tier == "emergency" for m in user)
        fired_content = sum(layer.assess(m, locale).tier == "emergency" for m in content)
        lines.append(
            f"| {locale} | {len(user)} | {fired_user} | {fired_user / len(user):.1%} | "
            f"{len(content)} | {fired_content} | {fired_content / len(content):.1%} |")
    lines.append("")
    return lines


def timed_each(fn: Callable[[str], object], items: list[str]) -> list[float]:
    fn(items[0])  # warm caches (templates, catalogs)
    out = []
    for item in items:
        started = time.perf_counter()
        fn(item)
        out.append(time.perf_counter() - started)
    return out


def bench_assistant() -> list[str]:
    from bot.assistant.costs import tree_rss_mb
    from tests.assistant_stack import start_stack, stop_stack

    print("bench: the rasa init assistant (trained and served on its own) ...",
          file=sys.stderr, flush=True)
    init = measure_rasa_init()
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "bot", "train"], cwd=ROOT,
                            capture_output=True, text=True, check=True)
    train_seconds = time.perf_counter() - started
    trained = "Trained" in result.stderr
    train_line = next((line for line in result.stderr.splitlines() if "Trained" in line
                       or "up to date" in line), "")
    with tempfile.TemporaryDirectory() as tmp:
        load_started = time.perf_counter()
        running = start_stack(Path(tmp))
        ready_seconds = time.perf_counter() - load_started
        try:
            rasa_pid = running.state()["pids"]["Rasa server"]
            rows = asyncio.run(measure_turns(running.url, running.ports["rasa"]))
            load = asyncio.run(measure_load(running.url, running.ports["rasa"], init))
            rss = tree_rss_mb(rasa_pid)
            gateway = measure_gateway(running)
        finally:
            stop_stack(running)
    lines = [
        "## The assistant: chat API beside bare Rasa, same model, same run",
        "",
        f"Model: {'trained in this run' if trained else 'cached'} ({train_line.strip()} "
        f"`safesteps train` took {train_seconds:.0f} s). Stack "
        f"start until /healthz answers (model load included): {ready_seconds:.0f} s. "
        f"Rasa server memory (RSS, with its children): {rss:.0f} MB.",
        "",
        "The `rasa init` assistant in the same run, for comparison (Rasa's own example, its "
        f"default pipeline and policies): trained by `rasa init` in {init['train_seconds']:.0f} s "
        f"(peak {init['train_peak']:.0f} MB), ready {init['ready']:.0f} s after `rasa run` "
        f"started, {init['rss']:.0f} MB once serving.",
        "",
        "Each turn is sent by a user who has already said hello. Bare Rasa is `POST "
        "/webhooks/rest/webhook` on the same server the chat API uses; the chat API sends "
        "the user's language and country with the message (REST metadata), in the same call. "
        "Target: chat API p50 ≤ 1.25 × bare Rasa p50.",
        "",
        "| turn | concurrency | bare Rasa p50 / p95 | chat API p50 / p95 | ratio of p50 | "
        "chat API turns/s |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += rows
    lines.append("")
    return lines + load + gateway


LOAD_USERS = (4, 8, 16, 32, 64)
LOAD_SECONDS = 10.0
APOLOGY = "Sorry, I cannot answer that right now"
Turn = Callable[[str, str], Awaitable[tuple[float, bool]]]


@dataclass
class LoadRound:
    users: int
    timings: list[float]
    apologies: int
    wall: float

    @property
    def rate(self) -> float:
        return len(self.timings) / self.wall

    def cell(self) -> str:
        return (f"{self.rate:.1f} /s, {percentile(self.timings, .5) * 1000:.0f} / "
                f"{percentile(self.timings, .95) * 1000:.0f} ms")


async def closed_loop(turn: Turn, texts: list[str], prefix: str) -> list[LoadRound]:
    """Users chatting without pause (each sends its next message as soon as the last is
    answered), LOAD_SECONDS at each number of users in LOAD_USERS."""
    async def one_round(users: int) -> LoadRound:
        timings: list[float] = []
        apologies = 0
        begun = time.perf_counter()
        deadline = begun + LOAD_SECONDS

        async def user_loop(index: int) -> None:
            nonlocal apologies
            n = 0
            while time.perf_counter() < deadline:
                took, apology = await turn(f"{prefix}-{users}-{index}", texts[n % len(texts)])
                timings.append(took)
                apologies += apology
                n += 1

        await asyncio.gather(*(user_loop(i) for i in range(users)))
        return LoadRound(users, timings, apologies, time.perf_counter() - begun)

    return [await one_round(users) for users in LOAD_USERS]


def knee(rounds: list[LoadRound]) -> str:
    fast = [r for r in rounds if percentile(r.timings, .95) < 1.0]
    if not fast:
        return "not reached"
    best = max(fast, key=lambda r: r.rate)
    return f"{best.rate:.1f} turns/s ({best.users} users)"


def http_turns(session: Any, chat_url: str | None, rasa_url: str) -> tuple[Turn, Turn]:
    """A turn through the chat API and one sent to a Rasa server's REST channel."""
    async def chat_turn(user: str, text: str) -> tuple[float, bool]:
        t = time.perf_counter()
        async with session.post(f"{chat_url}/api/chat",
                                json={"user": user, "text": text, "locale": "en"}) as r:
            body = await r.json()
            assert r.status == 200, body
        apology = any(APOLOGY in str(m.get("text", "")) for m in body["messages"])
        return time.perf_counter() - t, apology

    async def rasa_turn(user: str, text: str) -> tuple[float, bool]:
        t = time.perf_counter()
        async with session.post(f"{rasa_url}/webhooks/rest/webhook",
                                json={"sender": user, "message": text}) as r:
            await r.read()
            assert r.status == 200
        return time.perf_counter() - t, False

    return chat_turn, rasa_turn


async def first_turns(turn: Turn, text: str, prefix: str, users: int = 20) -> list[float]:
    return [(await turn(f"{prefix}-{n}", text))[0] for n in range(users)]


async def measure_load(chat_url: str, rasa_port: int, init: dict[str, Any]) -> list[str]:
    """A new user's first turn, then users chatting without pause at rising numbers (where
    the knee is): the chat API, the same run's bare Rasa, and the `rasa init` assistant
    (``init``, measured before the stack started)."""
    import aiohttp

    texts = list(TURNS.values())
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        chat_turn, rasa_turn = http_turns(session, chat_url, f"http://127.0.0.1:{rasa_port}")
        first_bare, first_ours = [], []
        for n in range(20):  # interleaved, one at a time
            first_bare += await first_turns(rasa_turn, texts[0], f"first-raw-{n}", 1)
            first_ours += await first_turns(chat_turn, texts[0], f"first-{n}", 1)
        ours = await closed_loop(chat_turn, texts, "load")
        bare = await closed_loop(rasa_turn, texts, "load-raw")
    b50, o50 = percentile(first_bare, .5) * 1000, percentile(first_ours, .5) * 1000
    i50 = percentile(init["first"], .5) * 1000
    lines = [
        "### A new user's first turn, and many users at once",
        "",
        f"A new user's first message (\"{texts[0]}\", 20 new users one after another): "
        f"bare Rasa p50 {b50:.0f} ms, chat API p50 {o50:.0f} ms, ratio {o50 / b50:.2f} "
        f"(target ≤ 1.10); the `rasa init` assistant (\"hello\"): {i50:.0f} ms.",
        "",
        f"Users chatting without pause for {LOAD_SECONDS:.0f} s each round (each sends its "
        "next message, in turn a FAQ question, the menu and a lesson step, as soon as the "
        "last is answered; the `rasa init` assistant gets its own greetings and moods). The "
        "chat API sends at most `assistant.rasa_concurrency` turns to Rasa at once; the "
        "others wait their turn. The stack runs with the chat's rate limits raised (these "
        "users type far faster than people). Targets: 64 users p95 ≤ 2 s with no apology. "
        "Each cell: "
        "turns/s, p50 / p95.",
        "",
        "| users | chat API | apologies | bare Rasa (same model) | `rasa init` assistant |",
        "| --- | --- | --- | --- | --- |",
    ]
    for o, b, i in zip(ours, bare, init["rounds"], strict=True):
        lines.append(f"| {o.users} | {o.cell()} | {o.apologies} | {b.cell()} | {i.cell()} |")
    lines += ["", f"Knee (the most turns/s with p95 < 1 s): chat API {knee(ours)}, bare Rasa "
              f"{knee(bare)}, `rasa init` {knee(init['rounds'])}.", ""]
    return lines


def measure_rasa_init() -> dict[str, Any]:
    """The assistant `rasa init` makes (Rasa's own example, its default pipeline and
    policies), trained and served as Rasa ships it: the yardstick for what SafeSteps costs."""
    import aiohttp

    from bot.assistant.costs import run_sampled, start_rasa, stop, tree_rss_mb, wait_for_model
    from bot.assistant.training import rasa_environment

    rasa = str(ROOT / ".venv-rasa" / "bin" / "rasa")
    env = rasa_environment()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "init"
        folder.mkdir()
        code, train_seconds, train_peak = run_sampled(
            [rasa, "init", "--no-prompt", "--init-dir", str(folder)], folder, env)
        if code != 0:
            raise RuntimeError(f"rasa init failed (exit {code})")
        started = time.perf_counter()
        server, url, output = start_rasa(rasa, folder, env)
        try:
            wait_for_model(server, url, output)
            ready = time.perf_counter() - started

            async def run() -> tuple[list[float], list[LoadRound]]:
                async with aiohttp.ClientSession(
                        timeout=aiohttp.ClientTimeout(total=120)) as session:
                    _, turn = http_turns(session, None, url)
                    first = await first_turns(turn, "hello", "first")
                    rounds = await closed_loop(
                        turn, ["hello", "I am feeling very good", "bye"], "load")
                return first, rounds

            first, rounds = asyncio.run(run())
            rss = tree_rss_mb(server.pid)
        finally:
            stop(server)
    return {"train_seconds": train_seconds, "train_peak": train_peak, "ready": ready,
            "rss": rss, "first": first, "rounds": rounds}


GATEWAY_USERS = 40


def measure_gateway(running: Any) -> list[str]:
    """The Telegram gateway's added latency: update in -> sendMessage out, beside /api/chat."""
    from tests.telegram_standin import text_update

    tg = running.telegram

    def first_reply(chat_id: int, text: str) -> float:
        mark = tg.mark()
        pushed = time.monotonic()
        tg.push(text_update(chat_id, text, "en", message_id=2))
        calls = tg.wait_for(mark, lambda calls: any(
            c.method == "sendMessage" and int(c.params["chat_id"]) == chat_id for c in calls))
        sent = next(c for c in calls if c.method == "sendMessage"
                    and int(c.params["chat_id"]) == chat_id)
        return sent.at - pushed

    def api_turn(user: str, text: str) -> float:
        started = time.monotonic()
        status, _ = running.post({"user": user, "text": text, "locale": "en"})
        assert status == 200
        return time.monotonic() - started

    chats = [900_000 + n for n in range(GATEWAY_USERS)]
    for chat_id in chats:  # warm each conversation (language sync, session start)
        first_reply(chat_id, "/start")
        api_turn(f"bench-api-{chat_id}", "/greet")
    time.sleep(4)  # let every chat's send allowance refill (1 message/s per chat)
    rows = []
    for name, text in (("menu (one custom action)", "/menu"),
                       ("FAQ question (NLU + response)", "what is human trafficking")):
        via_telegram, via_api = [], []
        for chat_id in chats[: GATEWAY_USERS // 2] if text == "/menu" else \
                chats[GATEWAY_USERS // 2:]:
            via_api.append(api_turn(f"bench-api-{chat_id}", text))
            via_telegram.append(first_reply(chat_id, text))
        t50, t95 = percentile(via_telegram, .5) * 1000, percentile(via_telegram, .95) * 1000
        a50 = percentile(via_api, .5) * 1000
        rows.append(f"| {name} | {len(via_telegram)} | {a50:.0f} ms | {t50:.0f} / {t95:.0f} ms "
                    f"| {t50 - a50:+.0f} ms |")
    return [
        "## The Telegram gateway's added latency",
        "",
        "The real aiogram bot (long polling) against the stand-in Bot API on loopback, with the "
        "same stack behind it. Telegram: from the moment the update is queued at the stand-in "
        "to the moment the bot's first sendMessage for it arrives there (getUpdates, aiogram, "
        "the chat service in process, the send queue). Chat API: the same turn posted to "
        "/api/chat by another user. Each user is measured once, with a full send allowance.",
        "",
        "| turn | users | chat API p50 | Telegram p50 / p95 | added by the gateway (p50) |",
        "| --- | --- | --- | --- | --- |",
        *rows,
        "",
    ]


TURNS = {
    "FAQ question (NLU + response)": "what is human trafficking",
    "menu (one custom action)": "/menu",
    "lesson step (one custom action)": '/open_lesson{"l":"teens-helping-a-friend"}',
}


async def measure_turns(chat_url: str, rasa_port: int) -> list[str]:
    import aiohttp

    rasa_url = f"http://127.0.0.1:{rasa_port}/webhooks/rest/webhook"
    rows = []
    async with aiohttp.ClientSession() as session:
        async def chat_turn(user: str, text: str) -> float:
            t = time.perf_counter()
            async with session.post(f"{chat_url}/api/chat",
                                    json={"user": user, "text": text, "locale": "en"}) as r:
                await r.read()
                assert r.status == 200
            return time.perf_counter() - t

        async def rasa_turn(user: str, text: str) -> float:
            t = time.perf_counter()
            async with session.post(rasa_url, json={"sender": user, "message": text}) as r:
                await r.read()
                assert r.status == 200
            return time.perf_counter() - t

        for name, text in TURNS.items():
            for concurrency in (1, 8, 32):
                rounds = max(4, 48 // concurrency)
                users = [f"bench-{name[:4]}-{concurrency}-{n}" for n in range(concurrency)]
                for user in users:  # warm: context sync and session start
                    await chat_turn(user, "/greet")
                    await rasa_turn("raw-" + user, "/greet")
                bare: list[float] = []
                ours: list[float] = []
                bare_wall = ours_wall = 0.0
                for _ in range(rounds):  # interleaved, so both see the same machine state
                    t = time.perf_counter()
                    bare += await asyncio.gather(*(rasa_turn("raw-" + u, text) for u in users))
                    bare_wall += time.perf_counter() - t
                    t = time.perf_counter()
                    ours += await asyncio.gather(*(chat_turn(u, text) for u in users))
                    ours_wall += time.perf_counter() - t
                b50, b95 = percentile(bare, .5) * 1000, percentile(bare, .95) * 1000
                o50, o95 = percentile(ours, .5) * 1000, percentile(ours, .95) * 1000
                rows.append(f"| {name} | {concurrency} | {b50:.0f} / {b95:.0f} ms | "
                            f"{o50:.0f} / {o95:.0f} ms | {o50 / b50:.2f} | "
                            f"{len(ours) / ours_wall:.1f} |")
    return rows

CLASS_PUPILS = 500
CLASS_SPREAD_SECONDS = 2.0
CLASS_RETRIES = 50


def serve_classroom(port: int, database: Path, timings: Path) -> None:
    """The chat API server's classroom part on its own (no assistant needed), in a child
    process, timing how long the server takes to handle each answer."""
    import json

    from aiohttp import web

    from bot.classroom import add_classroom, open_classroom
    from bot.content.library import ContentLibrary
    from bot.settings import ClassroomSettings, load_settings

    settings = load_settings(ROOT)
    settings = settings.model_copy(update={"classroom": ClassroomSettings(database=database)})
    handled: list[float] = []

    @web.middleware
    async def timing(request: web.Request, handler: Any) -> web.StreamResponse:
        started = time.perf_counter()
        try:
            return await handler(request)  # type: ignore[no-any-return]
        finally:
            if request.path.endswith("/answer"):
                handled.append((time.perf_counter() - started) * 1000)

    async def dump(app: web.Application) -> None:
        timings.write_text(json.dumps(handled))

    app = web.Application(middlewares=[timing])
    add_classroom(app, settings, open_classroom(settings, ContentLibrary.load(settings)))
    app.on_cleanup.append(dump)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def play_classroom(url: str) -> dict[str, Any]:
    """500 pupils join, keep their screens open, and answer one question within 2 s."""
    import json
    import random

    import aiohttp

    timeout = aiohttp.ClientTimeout(total=120)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
        async with http.post(f"{url}/api/classroom", json={
                "quiz": "children-safe-in-public", "locale": "en",
                "seconds_per_question": 60}) as resp:
            created = await resp.json()
        code, token = created["code"], created["host_token"]
        auth = {"Authorization": f"Bearer {token}"}
        players: list[str] = []
        for n in range(CLASS_PUPILS):
            async with http.post(f"{url}/api/classroom/{code}/join",
                                 json={"nickname": f"Pupil {n % 100} {chr(65 + n // 100)}"}
                                 ) as resp:
                players.append((await resp.json())["player_id"])

        host_events: list[tuple[float, int, str]] = []
        asked_at: dict[str, float] = {}

        async def read_host() -> None:
            async with http.get(f"{url}/api/classroom/{code}/host-events",
                                headers=auth) as stream:
                async for line in stream.content:
                    if line.startswith(b"data: "):
                        view = json.loads(line[6:])
                        host_events.append((time.perf_counter(), view.get("answered", 0),
                                            view["state"]))
                        if view["state"] == "review":
                            return

        async def read_pupil(player: str) -> None:
            async with http.get(f"{url}/api/classroom/{code}/events",
                                params={"player": player}) as stream:
                async for line in stream.content:
                    if line.startswith(b"data: "):
                        state = json.loads(line[6:])["state"]
                        if state == "question":
                            asked_at[player] = time.perf_counter()
                        elif state == "review":
                            return

        screens = [asyncio.ensure_future(read_host())]
        screens += [asyncio.ensure_future(read_pupil(p)) for p in players]
        await asyncio.sleep(2)  # every screen connected
        opened = time.perf_counter()
        async with http.post(f"{url}/api/classroom/{code}/next", headers=auth) as resp:
            assert resp.status == 200
        while len(asked_at) < CLASS_PUPILS and time.perf_counter() - opened < 30:
            await asyncio.sleep(0.01)
        broadcast = max(asked_at.values()) - opened

        answered: list[tuple[float, float, bool]] = []

        async def answer(player: str, delay: float) -> None:
            await asyncio.sleep(delay)
            sent = time.perf_counter()
            async with http.post(f"{url}/api/classroom/{code}/answer", json={
                    "player_id": player, "question_index": 0,
                    "option": random.randrange(3)}) as resp:  # noqa: S311
                result = await resp.json()
            answered.append((sent, time.perf_counter(), bool(result.get("counted"))))

        started = time.perf_counter()
        spread = [n * CLASS_SPREAD_SECONDS / CLASS_PUPILS for n in range(CLASS_PUPILS)]
        retries = random.sample(players, CLASS_RETRIES)  # phones that send again
        await asyncio.gather(*(answer(p, d) for p, d in zip(players, spread, strict=True)),
                             *(answer(p, CLASS_SPREAD_SECONDS + 0.1) for p in retries))
        took = max(done for _, done, _ in answered) - started
        await asyncio.wait_for(asyncio.gather(*screens), 30)
        async with http.get(f"{url}/api/classroom/{code}/results", headers=auth) as resp:
            results = await resp.json()

    first = sorted(done for _, done, counted in answered if counted)
    delays = []
    for n, done in enumerate(first, start=1):
        seen = next((at for at, count, state in host_events
                     if count >= n or state == "review"), None)
        if seen is not None:
            delays.append((seen - done) * 1000)
    return {
        "counted": results["questions"][0]["answers"], "accepted": len(first),
        "retries_counted": sum(c for _, _, c in answered) - CLASS_PUPILS,
        "players": len(results["players"]), "took": took, "broadcast": broadcast,
        "client": [(done - sent) * 1000 for sent, done, _ in answered],
        "host_delays": delays, "host_updates": len(host_events),
    }


def bench_classroom() -> list[str]:
    import json

    with tempfile.TemporaryDirectory() as tmp:
        timings = Path(tmp) / "timings.json"
        with serving(["--classroom-server", str(Path(tmp) / "classroom.sqlite"),
                      str(timings)]) as url:
            played = asyncio.run(play_classroom(url))
            weights = {}
            for page in ("join", "host"):
                sizes = []
                for locale in ("en", "zh-Hans", "vi"):
                    with urllib.request.urlopen(  # noqa: S310
                            f"{url}/{page}?lang={locale}", timeout=10) as response:
                        sizes.append(len(response.read()))
                weights[page] = f"{min(sizes) / 1000:.1f}–{max(sizes) / 1000:.1f} KB"
        handled = json.loads(timings.read_text())
    client, delays = played["client"], played["host_delays"]
    return [
        "## Live classroom: 500 pupils answer one question within 2 s",
        "",
        f"The classroom server (the chat API's classroom part, SQLite file, WAL) in its own "
        f"process; {CLASS_PUPILS} pupils joined, each with a live screen (server-sent "
        f"events) open, and the host screen open. The teacher opened a question; the pupils "
        f"answered at an even pace over {CLASS_SPREAD_SECONDS:.0f} s, then "
        f"{CLASS_RETRIES} phones sent their answer again (a retry on a slow connection). "
        f"Target: server-side p99 < 50 ms.",
        "",
        "| measure | figure |",
        "| --- | --- |",
        f"| answers counted (of {CLASS_PUPILS}) | {played['counted']} "
        f"({played['retries_counted']} of {CLASS_RETRIES} retries counted again) |",
        f"| all answers handled in | {played['took']:.2f} s |",
        f"| server-side handling per answer p50 / p95 / p99 / max | "
        f"{percentile(handled, .50):.2f} / {percentile(handled, .95):.2f} / "
        f"{percentile(handled, .99):.2f} / {max(handled):.2f} ms |",
        f"| seen by the pupil's phone (request to answer) p50 / p99 | "
        f"{percentile(client, .50):.1f} / {percentile(client, .99):.1f} ms |",
        f"| host screen shows an answer after it was accepted p50 / p95 / max | "
        f"{percentile(delays, .50):.0f} / {percentile(delays, .95):.0f} / {max(delays):.0f} ms "
        f"({played['host_updates']} updates; at most 10 a second by design) |",
        f"| question on all {CLASS_PUPILS} pupils' screens after the teacher pressed Next | "
        f"{played['broadcast'] * 1000:.0f} ms |",
        f"| the pupils' page `/join` (everything, uncompressed; en, zh-Hans, vi) | "
        f"{weights['join']} |",
        f"| the host page `/host` | {weights['host']} |",
        "",
    ]


ABUSE_CREATIONS = 10_000
TEACHER_KEY = "bench-key"


def own_rss_mb() -> float:
    from bot.assistant.costs import tree_rss_mb

    return tree_rss_mb(os.getpid())


def serve_abuse(port: int, folder: Path, limits_off: bool) -> None:
    """The classroom API on its own, in a child process (so that its memory is its own), with
    the teacher key; ``/bench/*`` lets the benchmark read its memory and move its clock."""
    from aiohttp import web

    from bot.classroom import add_classroom
    from bot.classroom.engine import ENDED_KEPT_SECONDS, Classroom
    from bot.classroom.store import ClassroomStore
    from bot.content.library import ContentLibrary
    from bot.settings import ClassroomSettings, LimitsSettings, Settings, load_settings

    huge = 10**9
    limits = LimitsSettings(creations_per_minute=huge, creations_burst=huge,
                            classroom_per_address_per_minute=huge,
                            classroom_address_burst=huge) if limits_off else LimitsSettings()
    settings = Settings(root=ROOT, limits=limits,
                        classroom=ClassroomSettings(database=folder / "c.sqlite"))
    now = [time.time()]
    classroom = Classroom(settings.classroom, ContentLibrary.load(load_settings(ROOT)),
                          ClassroomStore(folder / "c.sqlite"), clock=lambda: now[0])
    app = web.Application()
    add_classroom(app, settings, classroom, TEACHER_KEY if limits_off else None)

    async def memory(request: web.Request) -> web.Response:
        return web.json_response({"rss_mb": own_rss_mb(), "sessions": len(classroom.sessions)})

    async def later(request: web.Request) -> web.Response:
        now[0] += ENDED_KEPT_SECONDS + 1
        classroom.forget_idle()
        return await memory(request)

    app.router.add_get("/bench/memory", memory)
    app.router.add_post("/bench/later", later)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


@contextlib.contextmanager
def serving(args: list[str]) -> Iterator[str]:
    """This script in a child process as the server ``args[0]`` names, on a free port (put
    after that first argument): its address once it answers; stopped on leaving."""
    from bot.assistant.costs import free_port

    port = free_port()
    server = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), *args[:1],
                               str(port), *args[1:]], cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"{url}/api/quizzes", timeout=2):  # noqa: S310
                    break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


def bench_abuse() -> list[str]:
    """Class-quiz creations refused and accepted by the real classroom API (its own process,
    a real SQLite file): the memory they leave, and what a flood from one client gets."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "a").mkdir()
        (Path(tmp) / "b").mkdir()
        with serving(["--abuse-server", str(Path(tmp) / "a"), "off"]) as url:
            memory = asyncio.run(create_many(url))
        with serving(["--abuse-server", str(Path(tmp) / "b"), "on"]) as url:
            statuses, flood = asyncio.run(flood_creations(url))
    start, after_refused, after_accepted, after_forget = memory["rss"]
    return [
        f"## Abuse: {ABUSE_CREATIONS:,} class-quiz creations",
        "",
        f"The classroom API in its own process (real SQLite file), with a teacher key. "
        f"{ABUSE_CREATIONS // 2:,} creations refused (no teacher key, or a wrong one), then "
        f"{ABUSE_CREATIONS // 2:,} accepted with the key, each ended at once (creation limits "
        f"raised for this part, so that memory is what is measured), in {memory['took']:.1f} s. "
        "Memory is the server's RSS.",
        "",
        "| measure | figure |",
        "| --- | --- |",
        f"| refused / accepted | {memory['refused']:,} / {memory['accepted']:,} |",
        f"| before (after 50 warm-up creations) | {start['rss_mb']:.0f} MB |",
        f"| after the refusals | {after_refused['rss_mb']:.0f} MB "
        f"({after_refused['rss_mb'] - start['rss_mb']:+.1f} MB) |",
        f"| after the accepted creations | {after_accepted['rss_mb']:.0f} MB "
        f"({after_accepted['rss_mb'] - start['rss_mb']:+.1f} MB; "
        f"{after_accepted['sessions']:,} ended sessions still in memory) |",
        f"| ten minutes later (ended sessions leave memory) | {after_forget['rss_mb']:.0f} MB; "
        f"{after_forget['sessions']:,} sessions in memory (Python keeps freed memory for reuse) |",
        "",
        "One client creating 2,000 class quizzes as fast as it can with the default limits "
        "(loopback, no key: the address is the owner; a burst of 10, then 6 a minute; at most "
        "20 running): "
        + ", ".join(f"{count:,} × {status}" for status, count in sorted(statuses.items()))
        + f" in {flood:.1f} s.",
        "",
    ]


async def create_many(url: str) -> dict[str, Any]:
    import aiohttp

    body = {"quiz": "children-safe-in-public", "locale": "en"}
    key = {"X-Teacher-Key": TEACHER_KEY}
    async with aiohttp.ClientSession() as http:
        async def memory() -> dict[str, Any]:
            async with http.get(f"{url}/bench/memory") as r:
                return dict(await r.json())

        async def create_and_end() -> bool:
            async with http.post(f"{url}/api/classroom", json=body, headers=key) as r:
                made = await r.json()
                ok = r.status == 201
            async with http.post(f"{url}/api/classroom/{made['code']}/end",
                                 headers={"Authorization": f"Bearer {made['host_token']}"}):
                return ok

        for _ in range(50):  # warm up: imports, first renders, SQLite pages
            await create_and_end()
        rss = [await memory()]
        refused = accepted = 0
        t = time.perf_counter()
        for n in range(ABUSE_CREATIONS // 2):
            headers = {"X-Teacher-Key": "wrong"} if n % 2 else {}
            async with http.post(f"{url}/api/classroom", json=body, headers=headers) as r:
                refused += r.status in (401, 403)
        rss.append(await memory())
        for _ in range(ABUSE_CREATIONS // 2):
            accepted += await create_and_end()
        took = time.perf_counter() - t
        rss.append(await memory())
        async with http.post(f"{url}/bench/later") as r:
            rss.append(dict(await r.json()))
    return {"rss": rss, "refused": refused, "accepted": accepted, "took": took}


async def flood_creations(url: str) -> tuple[dict[int, int], float]:
    import aiohttp

    statuses: dict[int, int] = {}
    async with aiohttp.ClientSession() as http:
        t = time.perf_counter()
        for _ in range(2000):
            async with http.post(f"{url}/api/classroom", json={
                    "quiz": "children-safe-in-public", "locale": "en"}) as r:
                statuses[r.status] = statuses.get(r.status, 0) + 1
    return statuses, time.perf_counter() - t


SECTIONS: list[Callable[[], list[str]]] = [
    bench_validation, bench_hostile, bench_setup, bench_safety, bench_false_alarms,
    bench_assistant, bench_classroom, bench_abuse,
]


WHAT_CHANGED = [
    "## What shapes these figures",
    "",
    "- **One Rasa call per turn.** The chat API used to send a conversation's language and "
    "country as a turn of its own before its first message (a new user's first turn cost two "
    "Rasa turns). They now travel with every message in the REST channel's `metadata`, read "
    "into the `locale` and `country` slots by a Rasa component that trains nothing "
    "(`ContextFromMetadata`); a button's payload carries them as entities, because Rasa reads "
    "payloads without its NLU pipeline.",
    "- **Backpressure, not timeouts.** Rasa works one turn at a time on its CPU, so sending "
    "64 turns at once only made every one of them slow, and those past the reply timeout got "
    "an apology. The chat API now sends at most `assistant.rasa_concurrency` (4) turns at "
    "once; the others wait in order, and the timeout counts only once a turn is sent. The "
    "safety layer runs before the queue, so danger is answered at once whatever the load.",
    "- **Supervision.** `safesteps up` restarts a Rasa or action server that stops (after 2 s, "
    "doubling up to a minute when it keeps stopping); `/healthz` names what is down. The Rasa "
    "server's auth token is hex, so it never starts with `-` (which `rasa run` took for an "
    "option). Rasa takes the token only on its command line, so other users of the same "
    "machine can read it in the process list: run SafeSteps on a machine (or in a container) "
    "of its own; the Rasa server listens on 127.0.0.1 only.",
    "- **A leaner assistant.** Rasa no longer trains a ResponseSelector (the FAQ "
    "retriever in the action server chooses the FAQ) or TEDPolicy (every intent has a "
    "rule, and Rasa ranks rules first, so TED could never choose a turn): the Rasa server"
    " went from 3.9 GB to about 0.6 GB. The kit's intents are classified by a linear SVM "
    "(`safesteps_components.LinearIntentClassifier`) instead of Rasa's logistic regression, "
    "which needed about 100 s of lbfgs passes on raw counts: as accurate (docs/nlu.md), "
    "trained in seconds. `safesteps train` fits the danger detector and the FAQ retriever "
    "while Rasa trains, so training from nothing takes about 2 minutes on 2 cores.",
    "- **Where a turn's CPU time went.** Profiled under load (py-spy), the Rasa server spent "
    "half of each turn checking the action server's reply: Rasa 3.6 calls "
    "`jsonschema.validate`, which checks the schema itself against the meta-schema every "
    "time; the schema is now compiled once (replies are checked as before). A tenth went "
    "on finding each stored event's class by walking every subclass of Event (now a table), "
    "another tenth on stacking a message's features, and most of the rest on SQLite: Rasa "
    "opened a connection for every read and write and waited for the disk at every commit "
    "(now kept connections, WAL, synchronous=NORMAL: a crash of the process loses nothing, a "
    "power cut may lose the last turns). In the action server, the FAQ's sentence embedding "
    "spread each question over both cores and spent twice its CPU time waiting for the "
    "other servers; each server now runs its numerical libraries on one thread. "
    "`safesteps eval` measures what each NLU configuration costs.",
    "- **Abuse resistance.** Rate limits per client (429 with Retry-After), a teacher key for "
    "creating class quizzes whenever the server listens beyond loopback, at most 20 running "
    "class quizzes per key, and ended quizzes leaving memory: see the last section.",
    "",
]


def write_safety_report() -> None:
    """docs/safety.md: the safety layer and the FAQ answers on the independent sets."""
    from bot.safety.report import faq_figures, measure, render
    from bot.settings import load_settings

    print("bench: safety (independent evaluation set) ...", file=sys.stderr, flush=True)
    settings = load_settings(ROOT)
    text = render(measure(settings, "final"), settings, faq_figures(settings, "final"))
    SAFETY_REPORT.write_text(text, encoding="utf-8")
    print(f"bench: wrote {SAFETY_REPORT.relative_to(ROOT)}", file=sys.stderr)


def main() -> int:
    lines = [
        "# SafeSteps performance",
        "",
        "Written by `make bench` (scripts/bench.py). Figures are from one run on:",
        "",
        f"- {machine()}",
        f"- {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
        "",
        *WHAT_CHANGED,
    ]
    for section in SECTIONS:
        print(f"bench: {section.__name__.removeprefix('bench_')} ...", file=sys.stderr, flush=True)
        lines += section()
    REPORT.write_text("\n".join(lines), encoding="utf-8")
    print(f"bench: wrote {REPORT.relative_to(ROOT)}", file=sys.stderr)
    write_safety_report()
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--abuse-server"]:
        serve_abuse(int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4] == "off")
        raise SystemExit(0)
    if sys.argv[1:2] == ["--classroom-server"]:
        serve_classroom(int(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]))
        raise SystemExit(0)
    if sys.argv[1:2] == ["--only"]:  # one section, printed (the report is left as it is)
        wanted = {f"bench_{name}" for name in sys.argv[2:]}
        for section in SECTIONS:
            if section.__name__ in wanted:
                print("\n".join(section()))
        raise SystemExit(0)
    raise SystemExit(main())
