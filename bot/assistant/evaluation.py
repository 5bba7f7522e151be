"""`safesteps eval`: how well the assistant understands people, per locale.

A stratified hold-out: every fifth example of each intent (kit intents and FAQ retrieval) is
kept for testing, the model is trained on the rest, and each locale's test examples are scored
separately. The same split trains Rasa's default configuration (`rasa init`) for comparison.
Beside the accuracy, each configuration's cost: training time and peak memory, and, served by
a Rasa server of its own, its memory and the CPU time and latency of each message it reads
(``bot.assistant.costs``). Reports go to build/reports/eval/; the summary is printed and can
be pasted into docs/nlu.md.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.assistant import kit
from bot.assistant.costs import run_sampled, serving_costs
from bot.assistant.project import (
    COMPONENTS_MODULE,
    RASA_FORMAT,
    _dump,
    _examples,
    build_config,
    components_source,
)
from bot.assistant.training import AssistantError, rasa_environment, rasa_executable
from bot.content.library import ContentLibrary
from bot.content.problems import ProblemList
from bot.settings import Settings

HOLD_OUT_EVERY = 5

# What `rasa init` writes: no pipeline or policies, so Rasa 3.6 uses its defaults.
RASA_INIT_CONFIG = {"recipe": "default.v1", "language": "en", "assistant_id": "rasa-init",
                    "pipeline": None, "policies": None}


@dataclass
class Split:
    train: dict[str, list[str]]
    test: dict[str, dict[str, list[str]]]  # locale -> intent -> examples


def split_examples(library: ContentLibrary) -> Split:
    examples = kit.load_kit_examples(ProblemList())
    per_locale: dict[str, dict[str, list[str]]] = {loc: {} for loc in library.locales}
    for locale in library.locales:
        for intent, lines in (examples[locale].intents.items() if locale in examples else ()):
            per_locale[locale].setdefault(intent, []).extend(lines)
        for faq in library.faqs.values():
            per_locale[locale][f"faq/{faq.id}"] = list(faq.examples.get(locale, []))
    train: dict[str, list[str]] = {}
    test: dict[str, dict[str, list[str]]] = {loc: {} for loc in library.locales}
    for locale, intents in per_locale.items():
        for intent, lines in intents.items():
            for n, line in enumerate(lines):
                if n % HOLD_OUT_EVERY == HOLD_OUT_EVERY - 1:
                    test[locale].setdefault(intent, []).append(line)
                else:
                    train.setdefault(intent, []).append(line)
    return Split(train, test)


def _nlu(intents: dict[str, list[str]]) -> str:
    return _dump({"version": RASA_FORMAT, "nlu": [
        {"intent": intent, "examples": _examples(lines)} for intent, lines in intents.items()]})


def _domain(intents: list[str], library: ContentLibrary) -> str:
    kit_intents = sorted({i for i in intents if not i.startswith("faq/")})
    responses = {f"utter_{i}": [{"text": i}] for i in intents if i.startswith("faq/")}
    return _dump({"version": RASA_FORMAT, "intents": [*kit_intents, "faq"],
                  "responses": responses})


def _report(report_dir: Path, selects_responses: bool) -> dict[str, Any]:
    intents = json.loads((report_dir / "intent_report.json").read_text())
    kit_rows = {k: v for k, v in intents.items()
                if isinstance(v, dict) and k in kit.TYPED_INTENTS}
    f1 = [row["f1-score"] for row in kit_rows.values()]
    macro_f1 = sum(f1) / len(f1) if f1 else 0.0
    accuracy = intents.get("accuracy", 0.0)
    retrieval: dict[str, Any] = {}
    selection = report_dir / "response_selection_report.json"
    if selects_responses and selection.is_file():  # Rasa writes one (all zeros) regardless
        retrieval = json.loads(selection.read_text())
    errors_file = report_dir / "intent_errors.json"
    confusions: dict[str, int] = {}
    if errors_file.is_file():
        for error in json.loads(errors_file.read_text()):
            truth = error.get("intent")
            guess = (error.get("intent_prediction") or {}).get("name")
            if truth in kit.TYPED_INTENTS or guess in kit.TYPED_INTENTS:
                key = f"{truth} → {guess}"
                confusions[key] = confusions.get(key, 0) + 1
    return {
        "intent_accuracy": round(float(accuracy), 4),
        "kit_macro_f1": round(macro_f1, 4),
        "kit_f1": {k: round(v["f1-score"], 3) for k, v in sorted(kit_rows.items())},
        "faq_accuracy": round(float(retrieval["accuracy"]), 4) if "accuracy" in retrieval
        else None,
        "confusions": dict(sorted(confusions.items(), key=lambda kv: -kv[1])[:10]),
    }


def evaluate(settings: Settings, say: Callable[[str], None],
             configs: tuple[str, ...] = ("safesteps", "rasa-init"),
             candidates: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Train and score each named configuration; ``candidates`` adds pipelines to try."""
    library = ContentLibrary.load(settings)
    split = split_examples(library)
    out = settings.resolve(settings.build_dir) / "reports" / "eval"
    out.mkdir(parents=True, exist_ok=True)
    for name in [*configs, *(candidates or {})]:
        shutil.rmtree(out / name, ignore_errors=True)
    rasa = str(rasa_executable(settings))
    results: dict[str, Any] = {}
    known = {"safesteps": build_config(settings), "rasa-init": RASA_INIT_CONFIG,
             **(candidates or {})}
    for name in [*configs, *(candidates or {})]:
        config = {k: v for k, v in known[name].items() if v is not None}
        selects_responses = "pipeline" not in config or any(
            step.get("name") == "ResponseSelector" for step in config["pipeline"])
        folder = out / name
        (folder / "data").mkdir(parents=True)
        (folder / "config.yml").write_text(yaml.safe_dump(config, allow_unicode=True))
        (folder / "data" / "nlu.yml").write_text(_nlu(split.train), encoding="utf-8")
        (folder / "domain.yml").write_text(_domain(list(split.train), library), encoding="utf-8")
        (folder / f"{COMPONENTS_MODULE}.py").write_text(components_source(), encoding="utf-8")
        say(f"[{name}] training the NLU model on {sum(map(len, split.train.values()))} "
            "examples ...")
        code, seconds, peak = run_sampled(
            [rasa, "train", "nlu", "--config", "config.yml", "--nlu", "data/nlu.yml",
             "--domain", "domain.yml", "--out", "models", "--fixed-model-name", "nlu"],
            folder, rasa_environment())
        if code != 0:
            raise AssistantError(f"[{name}] training failed (exit {code})")
        results[name] = {"train_seconds": round(seconds), "train_peak_mb": round(peak),
                         "locales": {}}
        say(f"[{name}] serving the model on its own to measure what each message costs ...")
        texts = [t for intents in split.test.values() for lines in intents.values()
                 for t in lines]
        try:
            results[name].update(serving_costs(rasa, folder, "models/nlu.tar.gz",
                                               rasa_environment(), texts[::4]))
        except RuntimeError as err:
            raise AssistantError(f"[{name}] {err}") from None
        for locale, intents in split.test.items():
            test_file = folder / f"test-{locale}.yml"
            test_file.write_text(_nlu(intents), encoding="utf-8")
            report = folder / f"report-{locale}"
            say(f"[{name}] testing {locale} ({sum(map(len, intents.values()))} examples) ...")
            tested = subprocess.run(
                [rasa, "test", "nlu", "--model", "models/nlu.tar.gz", "--nlu", test_file.name,
                 "--out", str(report)],
                cwd=folder, env=rasa_environment(), capture_output=True, text=True, check=False)
            if tested.returncode != 0:
                raise AssistantError(f"[{name}] testing {locale} failed:\n"
                                     + tested.stderr[-2000:])
            results[name]["locales"][locale] = _report(report, selects_responses)
    summary = out / "summary.json"
    if summary.is_file():
        results = {**json.loads(summary.read_text()), **results}
    summary.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n",
                                      encoding="utf-8")
    return results
