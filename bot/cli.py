"""The `safesteps` command: one entry point for volunteers, teachers and deployers."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.settings import CONFIG_ENV, Settings, SettingsError, load_settings

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as err:
        for problem in err.problems.errors:
            print(problem, file=sys.stderr)
        print("Fix config.yml and run the command again.", file=sys.stderr)
        raise SystemExit(EXIT_PROBLEMS) from None


def cmd_validate(args: argparse.Namespace) -> int:
    from bot.content.validate import validate

    started = time.perf_counter()
    report = validate([Path(p) for p in args.paths] or None, _settings())
    elapsed = time.perf_counter() - started
    if args.json:
        json.dump(report.as_json(strict=args.strict), sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK if report.ok(args.strict) else EXIT_PROBLEMS
    for problem in report.errors + report.warnings:
        print(problem)
    files = sum(len(pack.all_files()) for pack in report.packs)
    errors, warnings = len(report.errors), len(report.warnings)
    verdict = "OK" if report.ok(args.strict) else "FAILED"
    print(
        f"{verdict}: {errors} error(s), {warnings} warning(s) in {files} pack file(s) "
        f"({elapsed:.2f} s)",
        file=sys.stderr,
    )
    if not report.ok(args.strict):
        hint = "Each line above names the file, line and column to fix."
        if args.strict and not errors:
            hint += " --strict counts warnings as errors."
        print(hint + " The format is explained in docs/content-format.md.", file=sys.stderr)
    return EXIT_OK if report.ok(args.strict) else EXIT_PROBLEMS


def _packs_for(paths: list[str]) -> tuple[list[Any], Any]:
    from bot.content.validate import validate

    report = validate([Path(p) for p in paths] or None, _settings())
    return report.packs, report


def cmd_i18n_status(args: argparse.Namespace) -> int:
    from bot.content.i18n import translation_status

    packs, _ = _packs_for([])
    table = translation_status(packs)
    if args.json:
        data = {
            locale: {"total": s.total, **dict(s.states), **{f"status_{k}": v
                                                           for k, v in s.statuses.items()}}
            for locale, s in table.items()
        }
        json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    header = f"{'locale':<9}{'texts':>7}{'missing':>9}{'stale':>7}{'unstamped':>11}" \
             f"{'draft':>7}{'machine':>9}{'reviewed':>10}"
    print(header)
    for locale, s in sorted(table.items()):
        print(
            f"{locale:<9}{s.total:>7}{s.states['missing']:>9}{s.states['stale']:>7}"
            f"{s.states['unstamped']:>11}{s.statuses['draft']:>7}"
            f"{s.statuses['machine-drafted']:>9}{s.statuses['reviewed']:>10}"
        )
    print("missing: no text; stale: the source changed since translation; machine: "
          "machine-drafted, needs a native speaker's review.", file=sys.stderr)
    return EXIT_OK


def cmd_i18n_export(args: argparse.Namespace) -> int:
    from bot.content.i18n import export_po
    from bot.content.rules import known_locale

    if not known_locale(args.locale):
        print(f"'{args.locale}' is not a language code SafeSteps knows (try en, zh-Hans, vi).",
              file=sys.stderr)
        return EXIT_USAGE
    packs, report = _packs_for([])
    if report.errors:
        print("The packs have errors; fix them first (safesteps validate).", file=sys.stderr)
        return EXIT_PROBLEMS
    text = export_po(packs, args.locale)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        out = Path(args.output or f"{args.locale}.po")
        out.write_text(text, encoding="utf-8")
        count = text.count("\nmsgctxt ")
        print(f"Wrote {count} texts to {out}. Translate the msgstr lines, then run: "
              f"safesteps i18n import {out}", file=sys.stderr)
    return EXIT_OK


def cmd_i18n_import(args: argparse.Namespace) -> int:
    from bot.content.i18n import import_po

    path = Path(args.file)
    if not path.is_file():
        print(f"There is no file {path}.", file=sys.stderr)
        return EXIT_USAGE
    settings = _settings()
    try:
        result = import_po(path.read_bytes(), args.locale, args.status, settings.root)
    except (ValueError, SyntaxError) as err:
        print(f"Cannot read {path} as a PO file: {err}", file=sys.stderr)
        return EXIT_PROBLEMS
    print(f"Imported {result.updated} changed translation(s) into {len(result.files)} file(s); "
          f"{result.unchanged} unchanged; skipped {result.skipped_fuzzy} marked fuzzy and "
          f"{result.skipped_empty} empty.",
          file=sys.stderr)
    for context in result.not_found:
        print(f"not found in the packs (the text may have moved): {context}", file=sys.stderr)
    from bot.content.validate import validate

    report = validate([settings.resolve(Path(f)) for f in sorted(result.files)] or None, settings)
    for problem in report.errors:
        print(problem, file=sys.stderr)
    return EXIT_OK if not report.errors and not result.not_found else EXIT_PROBLEMS


def cmd_i18n_stamp(args: argparse.Namespace) -> int:
    from bot.content.i18n import stamp

    packs, report = _packs_for(args.paths)
    skipped = sorted(
        f.shown for pack in packs for f in pack.all_files()
        if f.model is None and (report.scope is None or f.path.resolve() in report.scope
                                or any(s in f.path.resolve().parents for s in report.scope))
    )
    for shown in skipped:
        print(f"{shown}: not stamped, it cannot be read (see safesteps validate {shown})",
              file=sys.stderr)
    total = 0
    for pack in packs:
        meta = pack.meta.model if pack.meta else None
        if meta is None:
            continue
        files = [f for f in pack.all_files() if f.model is not None and (
            report.scope is None or any(
                f.path.resolve() == s or s in f.path.resolve().parents for s in report.scope))]
        total += stamp(files, meta.source_locale, args.refresh)
    print(f"Recorded the source text's fingerprint on {total} translation(s).", file=sys.stderr)
    return EXIT_PROBLEMS if skipped else EXIT_OK


def cmd_preview(args: argparse.Namespace) -> int:
    from bot.content.validate import validate
    from bot.preview import build_site, serve

    settings = _settings()
    report = validate(None, settings)
    out = Path(args.out) if args.out else settings.resolve(settings.build_dir) / "preview"
    pages = build_site(report, out)
    print(f"Preview written to {out} ({len(pages)} pages; {len(report.errors)} error(s), "
          f"{len(report.warnings)} warning(s) shown at the top).", file=sys.stderr)
    if args.no_serve:
        return EXIT_OK
    host = args.host or settings.preview.host
    port = args.port if args.port is not None else settings.preview.port
    try:
        server = serve(out, host, port)
    except OSError as err:
        print(f"Cannot serve on {host}:{port} ({err.strerror}). Try another port: "
              f"safesteps preview --port {port + 1}", file=sys.stderr)
        return EXIT_PROBLEMS
    print(f"Open http://{host}:{server.server_address[1]}/ in your browser. "
          "Press Ctrl-C to stop.", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("Preview stopped.", file=sys.stderr)
    finally:
        server.server_close()
    return EXIT_OK


def _assistant_errors(handler: Any) -> Any:
    """Turn an AssistantError into a plain message and exit code 1."""
    def run(args: argparse.Namespace) -> int:
        from bot.assistant.training import AssistantError

        try:
            result: int = handler(args)
        except AssistantError as err:
            print(str(err), file=sys.stderr)
            return EXIT_PROBLEMS
        return result
    return run


def cmd_build(args: argparse.Namespace) -> int:
    from bot.assistant.training import build

    build(_settings(), check=not args.no_check)
    return EXIT_OK


def cmd_train(args: argparse.Namespace) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from bot.assistant.training import train

    settings = _settings()
    # Rasa trains in a process of its own, on one core; the detector and the FAQ retriever
    # train here meanwhile, on the other.
    with ThreadPoolExecutor(max_workers=1) as pool:
        own = pool.submit(build_own_models, settings)
        try:
            train(settings, force=args.force)
        finally:
            failed = own.exception()  # waits; Rasa's own failure, if any, is the one raised
    if failed is not None:
        raise failed
    return EXIT_OK


def build_own_models(settings: Settings) -> None:
    """The danger detector (chat API) and the FAQ retriever (action server), trained from the
    packs when they changed."""
    from bot.assistant.faq_retrieval import load_retriever
    from bot.content.library import ContentLibrary
    from bot.safety.detector import load_or_train
    from bot.safety.examples import detector_examples

    started = time.monotonic()
    library = ContentLibrary.load(settings)
    build = settings.resolve(settings.build_dir)
    detector = load_or_train(detector_examples(library), build / "safety")
    _say(f"Danger detector ready: {detector.trained_on:,} labelled messages "
         f"({time.monotonic() - started:.1f} s).")
    started = time.monotonic()
    load_retriever(library, build / "faq")
    _say(f"FAQ retriever ready ({time.monotonic() - started:.1f} s).")


def safety_eval(split: str, report: str | None) -> int:
    """The safety layer on the independent evaluation set: a table, or docs/safety.md."""
    from bot.safety.report import faq_figures, measure, render

    settings = _settings()
    figures = measure(settings, "dev" if split == "dev" else "final")
    print(f"split {figures.split}; {figures.excluded} near-duplicates of training text left out")
    failing: list[str] = []
    for locale, r in sorted(figures.results.items()):
        print(f"  {locale:<8} danger {len(r.danger):>4}: emergency {r.emergency_recall:7.2%}  "
              f"emergency-or-check-in {r.any_recall:7.2%}   negatives {len(r.negatives):>4}: "
              f"false emergency {r.false_emergency:6.2%}  false check-in "
              f"{r.false_check_in:6.2%}")
        failing += r.failures()
    print(f"  per message p50 {figures.latency_ms['p50']:.2f} ms, p99 "
          f"{figures.latency_ms['p99']:.2f} ms")
    if report:
        _say("Measuring the FAQ answers on their independent set ...")
        Path(report).write_text(render(figures, settings, faq_figures(settings, figures.split)),
                                encoding="utf-8")
        _say(f"Wrote {report}")
    for line in failing:
        _say(f"  below target: {line}")
    return EXIT_OK


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cmd_up(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import os

    from bot.stack import serve
    from bot.telegram.redact import install

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    install(os.environ.get("SAFESTEPS_TELEGRAM_TOKEN"))
    settings = _settings()
    asyncio.run(serve(
        settings,
        host=args.host or settings.chat.host,
        port=args.port if args.port is not None else settings.chat.port,
        rasa_port=args.rasa_port or settings.assistant.rasa_port,
        action_port=args.action_port or settings.assistant.action_port,
        say=_say,
        restart_delay=args.restart_delay,
    ))
    return EXIT_OK


def cmd_eval(args: argparse.Namespace) -> int:
    import yaml

    if args.safety:
        return safety_eval(args.split, args.report)

    from bot.assistant.evaluation import evaluate

    configs: tuple[str, ...] = () if args.candidate else (
        ("safesteps",) if args.ours_only else ("safesteps", "rasa-init"))
    candidates = {}
    for path in args.candidate or []:
        with open(path, encoding="utf-8") as f:
            candidate = yaml.safe_load(f)
        if not isinstance(candidate, dict) or "pipeline" not in candidate:
            print(f"{path}: a candidate is a YAML file with a pipeline: list", file=sys.stderr)
            return EXIT_USAGE
        candidates[Path(path).stem] = {"recipe": "default.v1", "language": "zh",
                                       "policies": None, **candidate}
    results = evaluate(_settings(), _say, configs, candidates)
    for name, result in results.items():
        costs = (f", peak {result['train_peak_mb']} MB; served: {result['serve_rss_mb']} MB, "
                 f"{result['parse_cpu_ms']} ms CPU and {result['parse_p50_ms']} ms per "
                 "message" if "serve_rss_mb" in result else "")
        print(f"{name} (trained in {result['train_seconds']} s{costs})")
        for locale, row in result["locales"].items():
            faq = row["faq_accuracy"]
            shown = f"{faq:.3f}" if faq is not None else "by the FAQ retriever: eval --safety"
            print(f"  {locale:<8} intent accuracy {row['intent_accuracy']:.3f}  kit macro F1 "
                  f"{row['kit_macro_f1']:.3f}  FAQ retrieval accuracy {shown}")
            for confusion, n in row["confusions"].items():
                print(f"           {n} × {confusion}")
    print("Full reports: build/reports/eval/", file=sys.stderr)
    return EXIT_OK


def cmd_purge(args: argparse.Namespace) -> int:
    from bot.assistant.project import conversation_store
    from bot.chat.retention import purge_conversations
    from bot.classroom.store import ClassroomStore, StoreError

    settings = _settings()
    days = args.days if args.days is not None else settings.retention_days
    if days < 1:
        print("--days must be 1 or more.", file=sys.stderr)
        return EXIT_USAGE
    purged = purge_conversations(conversation_store(settings), days)
    print(f"Deleted {purged.events} stored events older than {days} days "
          f"({purged.conversations} whole conversations).")
    class_days = args.days if args.days is not None else settings.classroom.retention_days
    database = settings.resolve(settings.classroom.database)
    if database.is_file():
        try:
            store = ClassroomStore(database)
        except StoreError as err:
            print(err, file=sys.stderr)
            return EXIT_USAGE
        try:
            sessions = store.purge(class_days)
        finally:
            store.close()
        print(f"Deleted {sessions} class quiz sessions older than {class_days} days, with "
              "their nicknames and answers.")
    return EXIT_OK


def cmd_shell(args: argparse.Namespace) -> int:
    from bot.chat.shell import run_shell

    return run_shell(_settings(), args.url, args.locale, args.country)


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return EXIT_USAGE


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="safesteps",
        description="SafeSteps: lessons, quizzes and hotline guidance against the trafficking "
        "of women and children.",
    )
    parser.add_argument("--config", metavar="FILE",
                        help="read the settings from FILE instead of config.yml (paths in it "
                        "stay relative to the working folder)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    validate = sub.add_parser(
        "validate",
        help="check content packs and explain every problem with file, line and column",
        description="Check content packs. With no paths, checks the packs listed in config.yml.",
    )
    validate.add_argument("paths", nargs="*", metavar="PATH", help="files or folders to check")
    validate.add_argument("--strict", action="store_true", help="count warnings as errors")
    validate.add_argument("--json", action="store_true", help="print a JSON report for tools")
    validate.set_defaults(handler=cmd_validate)

    preview = sub.add_parser(
        "preview", help="build a browsable site of the packs and serve it",
        description="Build an HTML preview of every lesson, quiz, FAQ and hotline, with "
        "validation problems and translation status, then serve it on this computer.")
    preview.add_argument("--out", help="where to write the site (default build/preview)")
    preview.add_argument("--no-serve", action="store_true", help="only build the site")
    preview.add_argument("--host", help="address to serve on (default from config.yml)")
    preview.add_argument("--port", type=int, help="port to serve on (default 8000)")
    preview.set_defaults(handler=cmd_preview)

    build = sub.add_parser("build", help="write the Rasa project from the packs and check it")
    build.add_argument("--no-check", action="store_true", help="skip rasa data validate")
    build.set_defaults(handler=_assistant_errors(cmd_build))
    train = sub.add_parser("train", help="train the assistant (skipped when nothing changed)")
    train.add_argument("--force", action="store_true", help="train even when up to date")
    train.set_defaults(handler=_assistant_errors(cmd_train))
    up = sub.add_parser("up", help="start the assistant and the chat API; Ctrl-C stops all")
    up.add_argument("--host", help="the chat API's address (default 127.0.0.1)")
    up.add_argument("--port", type=int, help="the chat API's port (default 8080)")
    up.add_argument("--rasa-port", type=int, help="the Rasa server's port (default 5005)")
    up.add_argument("--action-port", type=int, help="the action server's port (default 5055)")
    up.add_argument("--restart-delay", type=float, default=2.0, metavar="SECONDS",
                    help="wait this long before restarting a stopped Rasa or action server "
                    "(doubled each time it stops again soon, up to a minute; default 2)")
    up.set_defaults(handler=_assistant_errors(cmd_up))
    evaluation = sub.add_parser(
        "eval", help="measure how well the assistant understands each language",
        description="Hold out every fifth example, train on the rest, and report intent "
        "accuracy, macro F1 and FAQ retrieval per locale, beside Rasa's default configuration.")
    evaluation.add_argument("--ours-only", action="store_true",
                            help="skip Rasa's default configuration (much faster)")
    evaluation.add_argument("--candidate", action="append", metavar="FILE",
                            help="also try the pipeline in this YAML file (repeatable)")
    evaluation.add_argument("--safety", action="store_true",
                            help="measure the safety layer on the independent evaluation set "
                            "instead (seconds, no Rasa)")
    evaluation.add_argument("--split", choices=("dev", "final"), default="final",
                            help="with --safety: the development split (for choices) or the "
                            "final split (for figures; the default)")
    evaluation.add_argument("--report", metavar="FILE",
                            help="with --safety: also write the full report (docs/safety.md)")
    evaluation.set_defaults(handler=_assistant_errors(cmd_eval))
    purge = sub.add_parser(
        "purge", help="delete stored conversations and class quizzes past their retention now",
        description="The chat API does this every hour by itself; use this from cron or "
        "after lowering retention_days.")
    purge.add_argument("--days", type=int, help="a shorter limit for this run only")
    purge.set_defaults(handler=cmd_purge)
    shell = sub.add_parser("shell", help="chat with SafeSteps in this terminal")
    shell.add_argument("--url", help="a running chat API (default: the one in config.yml)")
    shell.add_argument("--locale", help="your language, such as en, zh-Hans or vi")
    shell.add_argument("--country", help="your country, such as CN or VN")
    shell.set_defaults(handler=_assistant_errors(cmd_shell))

    i18n = sub.add_parser("i18n", help="translation status, PO export and import")
    i18n_sub = i18n.add_subparsers(dest="i18n_command", metavar="ACTION")
    status = i18n_sub.add_parser("status", help="missing, stale and draft texts per language")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(handler=cmd_i18n_status)
    export = i18n_sub.add_parser("export", help="write a PO file for translators")
    export.add_argument("--locale", required=True, help="the language to translate into, e.g. vi")
    export.add_argument(
        "-o", "--output", help="the PO file to write (default LOCALE.po; - for stdout)")
    export.set_defaults(handler=cmd_i18n_export)
    imp = i18n_sub.add_parser("import", help="read a translated PO file back into the packs")
    imp.add_argument("file", help="the PO file")
    imp.add_argument("--locale", help="the language of the file (default: from the file)")
    imp.add_argument("--status", default="draft", choices=["draft", "machine-drafted", "reviewed"],
                     help="the status given to imported translations (default draft)")
    imp.set_defaults(handler=cmd_i18n_import)
    stamp = i18n_sub.add_parser(
        "stamp", help="record which source text each translation was made from")
    stamp.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (default: all)")
    stamp.add_argument("--refresh", action="store_true",
                       help="also re-stamp stale translations (after checking them)")
    stamp.set_defaults(handler=cmd_i18n_stamp)
    i18n.set_defaults(handler=lambda _args: _print_help(i18n))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.config:
        # Through the environment, so that the action server reads the same file.
        os.environ[CONFIG_ENV] = str(Path(args.config).resolve())
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        result: int = handler(args)
    except KeyboardInterrupt:
        print("Stopped.", file=sys.stderr)
        return 130
    return result


if __name__ == "__main__":
    raise SystemExit(main())
