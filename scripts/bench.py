"""`make bench`: measure SafeSteps' speed and memory and write docs/performance.md.

Every figure is measured on this machine in this run; the machine is described at the top of
the report. Tests never assert timings: this is where they are recorded.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.test_hostile_yaml import HOSTILE  # noqa: E402

REPORT = ROOT / "docs" / "performance.md"


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


SECTIONS: list[Callable[[], list[str]]] = [bench_validation, bench_hostile, bench_setup]


def main() -> int:
    lines = [
        "# SafeSteps performance",
        "",
        "Written by `make bench` (scripts/bench.py). Figures are from one run on:",
        "",
        f"- {machine()}",
        f"- {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
        "",
    ]
    for section in SECTIONS:
        print(f"bench: {section.__name__.removeprefix('bench_')} ...", file=sys.stderr, flush=True)
        lines += section()
    REPORT.write_text("\n".join(lines), encoding="utf-8")
    print(f"bench: wrote {REPORT.relative_to(ROOT)}", file=sys.stderr)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
