"""Build and train the Rasa model, skipping the work when nothing changed.

A model is named by the fingerprint of everything it is trained from (packs, the kit's data,
the pipeline and policies), so an unchanged project never trains twice, and a failed training
leaves the last good model in place.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.assistant.project import BuiltProject, write_project
from bot.content.library import ContentLibrary
from bot.settings import Settings

Progress = Callable[[str], None]


class AssistantError(Exception):
    """Something the user must fix before the assistant can be built, trained or started."""


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def rasa_executable(settings: Settings) -> Path:
    rasa = settings.resolve(Path(".venv-rasa/bin/rasa"))
    if not rasa.is_file():
        raise AssistantError("The Rasa server is not installed (.venv-rasa is missing): "
                             "run make setup")
    return rasa


def rasa_environment(cache: Path | None = None) -> dict[str, str]:
    """Quiet, offline, reproducible Rasa runs (with a training cache outside the project)."""
    env = dict(os.environ)
    if cache is not None:
        env["RASA_CACHE_DIRECTORY"] = str(cache.resolve())
    env.update({
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "RASA_TELEMETRY_ENABLED": "false",
        "PYTHONWARNINGS": "ignore",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "LOG_LEVEL_LIBRARIES": "ERROR",
    })
    return env


def models_dir(settings: Settings) -> Path:
    return settings.resolve(settings.build_dir) / "models"


def current_model(settings: Settings) -> Path | None:
    """The last model that trained successfully, if any."""
    pointer = models_dir(settings) / "current.json"
    if not pointer.is_file():
        return None
    try:
        name = json.loads(pointer.read_text())["model"]
    except (ValueError, KeyError, TypeError):
        return None
    path = models_dir(settings) / name
    return path if path.is_file() else None


def build(settings: Settings, check: bool = True, say: Progress = _say) -> BuiltProject:
    """Write the Rasa project; with check, run `rasa data validate` on it."""
    library = ContentLibrary.load(settings)
    if library.problems:
        raise AssistantError(f"The content packs have {library.problems} error(s): run "
                             "safesteps validate and fix them first.")
    built = write_project(settings, library)
    if built.problems.errors:
        raise AssistantError("\n".join(str(p) for p in built.problems.errors))
    say(f"Rasa project written to {built.folder} (fingerprint {built.fingerprint}).")
    if check:
        say("Checking it with rasa data validate ...")
        result = subprocess.run(
            [str(rasa_executable(settings)), "data", "validate", "--domain", "domain.yml",
             "--data", "data", "--config", "config.yml"],
            cwd=built.folder, env=rasa_environment(), capture_output=True, text=True,
            check=False,
        )
        if result.returncode != 0:
            raise AssistantError("rasa data validate found problems:\n" + result.stdout[-4000:]
                                 + result.stderr[-4000:])
        say("rasa data validate: OK.")
    return built


@dataclass
class TrainResult:
    model: Path
    trained: bool
    seconds: float


def train(settings: Settings, force: bool = False, say: Progress = _say) -> TrainResult:
    """Train when the fingerprint is new; keep the last good model when training fails."""
    built = build(settings, check=False, say=say)
    target_dir = models_dir(settings)
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / f"{built.fingerprint}.tar.gz"
    pointer = target_dir / "current.json"
    if target.is_file() and not force:
        pointer.write_text(json.dumps({"model": target.name}) + "\n")
        say(f"The model is up to date ({target.name}); nothing to train.")
        return TrainResult(target, False, 0.0)
    say("Training the assistant (a few minutes; Rasa prints its progress below) ...")
    scratch = target_dir / "training"
    shutil.rmtree(scratch, ignore_errors=True)
    started = time.perf_counter()
    result = subprocess.run(
        [str(rasa_executable(settings)), "train", "--config", "config.yml", "--domain",
         "domain.yml", "--data", "data", "--out", str(scratch), "--fixed-model-name",
         built.fingerprint],
        cwd=built.folder, env=rasa_environment(target_dir / "cache"), check=False,
    )
    seconds = time.perf_counter() - started
    produced = scratch / f"{built.fingerprint}.tar.gz"
    if result.returncode != 0 or not produced.is_file():
        shutil.rmtree(scratch, ignore_errors=True)
        kept = current_model(settings)
        where = f"; the last good model is kept ({kept.name})" if kept else ""
        raise AssistantError(f"Training failed (exit {result.returncode}){where}. "
                             "The messages above say why.")
    produced.replace(target)
    shutil.rmtree(scratch, ignore_errors=True)
    pointer.write_text(json.dumps({"model": target.name}) + "\n")
    for old in target_dir.glob("*.tar.gz"):
        if old != target:
            old.unlink()
    say(f"Trained {target.name} in {seconds:.0f} s.")
    return TrainResult(target, True, seconds)
