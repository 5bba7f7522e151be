"""`safesteps preview`: a static site where volunteers see their packs as users will.

Every lesson step by step, quizzes with answers and explanations, the hotline directory with
sources and dates, translation status per locale, and validation problems at the top.
"""

from __future__ import annotations

import datetime as dt
import functools
import http.server
import shutil
from pathlib import Path
from typing import Any

from bot.content import models
from bot.content.i18n import translation_status
from bot.content.packs import Pack
from bot.content.translations import iter_texts, text_status
from bot.content.validate import ValidationReport, summarise
from bot.i18n import Translator, country_name, format_date, language_name, own_language_name
from bot.render import Renderer, audience_label, create_environment


def _page_name(locale: str) -> str:
    return f"{locale}.html"


def _options(renderer: Renderer, question: models.Question) -> list[dict[str, Any]]:
    right = set(question.correct_options())
    return [
        {"text": text, "right": n in right}
        for n, text in enumerate(renderer.option_texts(question))
    ]


def _question(renderer: Renderer, question: models.Question) -> dict[str, Any]:
    return {
        "question": renderer.text(question.question),
        "options": _options(renderer, question),
        "explanation": renderer.text(question.explanation),
        "type": question.type,
        "difficulty": question.difficulty,
    }


def _badges(model: Any, locale: str, source_locale: str, _: Translator) -> list[dict[str, str]]:
    """Worst translation states of a lesson in this locale, shown next to its title."""
    states = {text_status(v, locale, source_locale) for _p, v in iter_texts(model)}
    labels = {
        "missing": _("missing"), "stale": _("stale"), "draft": _("draft"),
        "machine-drafted": _("machine-drafted"),
    }
    out = []
    for key in ("missing", "stale"):
        if any(s.state == key for s in states):
            out.append({"css": key, "label": labels[key]})
    for key in ("machine-drafted", "draft"):
        if any(s.status == key for s in states):
            out.append({"css": key, "label": labels[key]})
    return out


def _locale_context(pack_list: list[Pack], locale: str, fallback: str) -> dict[str, Any]:
    renderer = Renderer(locale, fallback)
    _ = renderer.translator
    lessons: dict[str, list[dict[str, Any]]] = {}
    quizzes: list[dict[str, Any]] = []
    faqs: list[dict[str, Any]] = []
    hotlines: list[dict[str, Any]] = []
    for pack in pack_list:
        meta = pack.meta.model if pack.meta else None
        source = meta.source_locale if meta else fallback
        topics = {t.id: renderer.text(t.title) for t in meta.topics} if meta else {}
        for file in pack.lessons:
            lesson = file.model
            if lesson is None:
                continue
            lessons.setdefault(lesson.audience, []).append({
                "id": lesson.id,
                "title": renderer.text(lesson.title),
                "summary": renderer.text(lesson.summary),
                "topic": topics.get(lesson.topic, lesson.topic),
                "badges": _badges(lesson, locale, source, _),
                "steps": [
                    {"text": renderer.text(step.text),
                     "check": _question(renderer, step.check) if step.check else None}
                    for step in lesson.steps
                ],
                "takeaways": [renderer.text(t) for t in lesson.takeaways],
                "sources": [{"title": s.title, "url": s.url} for s in lesson.sources],
            })
        for quiz_file in pack.quizzes:
            quiz = quiz_file.model
            if quiz is None:
                continue
            quizzes.append({
                "id": quiz.id, "title": renderer.text(quiz.title), "audience": quiz.audience,
                "audience_label": audience_label(quiz.audience, _),
                "questions": [_question(renderer, q) for q in quiz.questions],
            })
        for faq_file in pack.faqs:
            for faq in faq_file.model.faqs if faq_file.model else []:
                faqs.append({
                    "id": faq.id, "question": renderer.text(faq.question),
                    "answer": renderer.text(faq.answer),
                    "examples": faq.examples.get(locale, []),
                })
        for hotline_file in sorted(pack.hotlines, key=lambda f: f.path.name):
            country = hotline_file.model
            if country is None:
                continue
            hotlines.append({
                "code": country.country,
                "name": country_name(country.country, locale),
                "emergency": [
                    {"number": e.number, "label": renderer.text(e.label),
                     "source_url": e.source_url, "verified_on": format_date(e.verified_on, locale)}
                    for e in country.emergency
                ],
                "hotlines": [
                    {"number": h.number, "name": renderer.text(h.name), "region": h.region,
                     "handles": renderer.text(h.handles), "hours": renderer.text(h.hours),
                     "hours_quote": h.hours_quote,
                     "languages": ", ".join(language_name(x, locale) for x in h.languages),
                     "text_options": renderer.text(h.text_options), "cost": h.cost,
                     "source_url": h.source_url, "verified_on": format_date(h.verified_on, locale)}
                    for h in country.hotlines
                ],
            })
    order = list(models.AUDIENCES)
    return {
        "lessons": [
            {"audience": audience_label(audience, _), "lessons": lessons[audience]}
            for audience in sorted(lessons, key=order.index)
        ],
        "quizzes": sorted(quizzes, key=lambda q: (order.index(q["audience"]), q["id"])),
        "faqs": faqs,
        "hotlines": hotlines,
    }


def build_site(report: ValidationReport, out: Path, today: dt.date | None = None) -> list[Path]:
    """Write the preview site into ``out``; returns the pages written."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    locales: list[str] = []
    fallback = "en"
    for pack in report.packs:
        meta = pack.meta.model if pack.meta else None
        if meta is None:
            continue
        fallback = meta.source_locale
        locales += [loc for loc in meta.locales if loc not in locales]
    built = format_date(today or dt.date.today(), "en")
    nav = [{"tag": loc, "name": own_language_name(loc), "file": _page_name(loc)} for loc in locales]
    problems = {"errors": [str(p) for p in report.errors],
                "warnings": [str(p) for p in report.warnings]}
    summary = summarise(report.packs)
    status = translation_status(report.packs)
    english = Translator("en")
    rows = []
    for loc in locales:
        s = status.get(loc)
        if s is None:
            continue
        rows.append({
            "file": _page_name(loc), "name": own_language_name(loc), "total": s.total,
            "missing": s.states["missing"], "stale": s.states["stale"],
            "draft": s.statuses["draft"], "machine": s.statuses["machine-drafted"],
            "reviewed": s.statuses["reviewed"],
            "coverage": f"{summary['locales'].get(loc, {}).get('coverage', 0):.0%}",
        })
    source_counts = summary["locales"].get(fallback, {"lessons": {}, "quiz_questions": {}})
    counts = [
        {"audience": audience_label(a, english), "lessons": source_counts["lessons"].get(a, 0),
         "questions": source_counts["quiz_questions"].get(a, 0)}
        for a in models.AUDIENCES
    ]
    packs = [
        {
            "id": p.meta.model.id, "version": p.meta.model.version,
            "title": Renderer("en", fallback).text(p.meta.model.title),
            "review_by": format_date(p.meta.model.review_by, "en"),
            "maintainers": ", ".join(m.name for m in p.meta.model.maintainers),
        }
        for p in report.packs if p.meta and p.meta.model
    ]
    pages = []
    index = create_environment(english, "bot.preview").get_template("index.html.j2").render(
        lang="en", all_locales=nav, built=built, packs=packs, status=rows, counts=counts,
        **problems,
    )
    (out / "index.html").write_text(index, encoding="utf-8")
    pages.append(out / "index.html")
    for loc in locales:
        translator = Translator(loc)
        page = create_environment(translator, "bot.preview").get_template("locale.html.j2").render(
            lang=loc, all_locales=nav, built=format_date(today or dt.date.today(), loc),
            language=own_language_name(loc), **problems,
            **_locale_context(report.packs, loc, fallback),
        )
        (out / _page_name(loc)).write_text(page, encoding="utf-8")
        pages.append(out / _page_name(loc))
    for pack in report.packs:
        images = pack.location.content / "images"
        if images.is_dir():
            shutil.copytree(images, out / "images", dirs_exist_ok=True)
    return pages


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Requests are not logged: the preview needs no access log."""


def serve(folder: Path, host: str, port: int) -> http.server.ThreadingHTTPServer:
    """A static file server for the built site (the caller runs serve_forever)."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    return http.server.ThreadingHTTPServer((host, port), handler)
