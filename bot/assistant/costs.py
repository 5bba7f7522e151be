"""What an assistant configuration costs to train and to run, read from /proc (Linux).

``run_sampled`` runs a command and samples the memory of its process tree; ``serving_costs``
starts a trained NLU model in a Rasa server of its own and measures its memory, the CPU time
and the latency of each message it parses. ``safesteps eval`` puts these beside the accuracy
of each configuration, so that a cheaper one can be chosen when it understands as well.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
SERVE_STARTUP_SECONDS = 600.0


def tree(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    parents: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            parents.setdefault(int(fields[1]), []).append(int(proc.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += parents.get(current, [])
    return found


def tree_rss_mb(pid: int) -> float:
    """The resident memory of ``pid`` and its children, in MB."""
    total = 0
    for p in tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def tree_cpu_seconds(pid: int) -> float:
    """User and system CPU time used so far by ``pid`` and its children."""
    ticks = 0
    for p in tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / TICKS


def run_sampled(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, float, float]:
    """Run ``args``; its exit code, wall seconds and peak memory (MB, sampled every 0.2 s)."""
    started = time.perf_counter()
    process = subprocess.Popen(args, cwd=cwd, env=env)
    peak = 0.0
    while process.poll() is None:
        peak = max(peak, tree_rss_mb(process.pid))
        time.sleep(0.2)
    return process.returncode, time.perf_counter() - started, peak


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_rasa(rasa: str, folder: Path, env: dict[str, str], model: str | None = None
               ) -> tuple[subprocess.Popen[bytes], str, list[bytes]]:
    """A Rasa server with its HTTP API on a free loopback port, serving ``model`` (default:
    the newest in ``folder``/models): the process, its address and its output so far."""
    port = free_port()
    server = subprocess.Popen(
        [rasa, "run", "--enable-api", *(["-m", model] if model else []), "-i", "127.0.0.1",
         "-p", str(port)],
        cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, start_new_session=True)
    output: list[bytes] = []
    threading.Thread(target=lambda: output.extend(server.stdout or []), daemon=True).start()
    return server, f"http://127.0.0.1:{port}", output


def wait_for_model(server: subprocess.Popen[bytes], url: str, output: list[bytes]) -> None:
    """Until the server at ``url`` has loaded its model; RuntimeError if it stops or takes
    longer than SERVE_STARTUP_SECONDS."""
    deadline = time.monotonic() + SERVE_STARTUP_SECONDS
    while True:
        if server.poll() is not None:
            raise RuntimeError("the Rasa server stopped: "
                               + b"".join(output[-20:]).decode(errors="replace"))
        try:
            with urllib.request.urlopen(f"{url}/status", timeout=2) as r:  # noqa: S310
                if json.loads(r.read()).get("model_file"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the Rasa server did not load the model in time")
        time.sleep(0.5)


def stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()


def serving_costs(rasa: str, folder: Path, model: str, env: dict[str, str],
                  texts: list[str]) -> dict[str, float]:
    """Start ``model`` in a Rasa server of its own, parse ``texts`` one after another, and
    say what that cost: memory once loaded, CPU and wall time per message."""
    server, url, output = start_rasa(rasa, folder, env, model)
    try:
        wait_for_model(server, url, output)

        def parse(text: str) -> float:
            request = urllib.request.Request(  # noqa: S310 (our own http://127.0.0.1 server)
                f"{url}/model/parse", data=json.dumps({"text": text}).encode(),
                headers={"Content-Type": "application/json"})
            t = time.perf_counter()
            with urllib.request.urlopen(request, timeout=60) as r:  # noqa: S310
                r.read()
            return time.perf_counter() - t

        for text in texts[:20]:  # warm up
            parse(text)
        loaded = tree_rss_mb(server.pid)
        cpu = tree_cpu_seconds(server.pid)
        took = [parse(text) for text in texts]
        cpu = tree_cpu_seconds(server.pid) - cpu
        return {"serve_rss_mb": round(loaded), "parse_cpu_ms": round(cpu / len(texts) * 1000, 1),
                "parse_p50_ms": round(statistics.median(took) * 1000, 1)}
    finally:
        stop(server)
