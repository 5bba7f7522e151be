"""Models SafeSteps trains itself (the danger detector, the FAQ retriever), kept under the build
folder by the fingerprint of what they learnt from, so that they are trained once per change
of the packs and never committed."""

from __future__ import annotations

import logging
import pickle
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

log = logging.getLogger("safesteps.models")
T = TypeVar("T")
_loaded: dict[tuple[str, str], object] = {}  # this process's models, by name and fingerprint


def load_or_build(folder: Path, name: str, key: str, build: Callable[[], T],
                  kind: type[T]) -> T:
    """The model ``name`` trained on inputs with fingerprint ``key``: read from ``folder``
    when it is there, otherwise built now and kept (older versions are removed)."""
    known = _loaded.get((name, key))
    if isinstance(known, kind):
        return known
    model = _read_or_build(folder, name, key, build, kind)
    _loaded[(name, key)] = model
    return model


def _read_or_build(folder: Path, name: str, key: str, build: Callable[[], T],
                   kind: type[T]) -> T:
    path = folder / f"{name}-{key}.pickle"
    if path.is_file():
        try:
            with path.open("rb") as handle:
                model = pickle.load(handle)  # noqa: S301 (only files written below are read)
            if isinstance(model, kind):
                return model
        except (OSError, pickle.UnpicklingError, AttributeError, EOFError, ImportError):
            log.warning("the saved %s could not be read; training it again", name)
    started = time.monotonic()
    model = build()
    log.info("%s trained in %.1f s", name, time.monotonic() - started)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob(f"{name}-*.pickle"):
        old.unlink(missing_ok=True)
    partial = path.with_suffix(".partial")
    with partial.open("wb") as handle:
        pickle.dump(model, handle, protocol=pickle.HIGHEST_PROTOCOL)
    partial.replace(path)
    return model
