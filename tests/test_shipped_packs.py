"""The curriculum SafeSteps ships: complete, valid under --strict, and big enough to teach."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

from bot.content.validate import validate
from bot.settings import load_settings
from tests.conftest import ROOT, SHIPPED_LOCALES, run_cli

AUDIENCES = ("children", "teens", "parents", "educators")
REQUIRED_COUNTRIES = {"CN", "VN", "MM", "LA", "KH", "TH", "US", "GB"}


@cache
def shipped_report() -> Any:
    return validate(None, load_settings(ROOT))


@cache
def summary() -> dict[str, Any]:
    result = run_cli("validate", "--strict", "--json")
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_shipped_packs_pass_strict_validation() -> None:
    result = run_cli("validate", "--strict")
    assert result.returncode == 0, result.stdout + result.stderr
    assert summary()["ok"] is True
    assert summary()["errors"] == [] and summary()["warnings"] == []


def test_json_report_has_the_documented_shape() -> None:
    data = summary()
    assert set(data) == {"ok", "errors", "warnings", "summary"}
    assert set(data["summary"]) == {"locales", "hotline_countries"}
    for entry in data["summary"]["locales"].values():
        assert set(entry) == {"lessons", "quiz_questions", "faqs", "coverage"}
        assert 0 <= entry["coverage"] <= 1


@pytest.mark.parametrize("locale", SHIPPED_LOCALES)
def test_every_locale_is_complete(locale: str) -> None:
    entry = summary()["summary"]["locales"][locale]
    for audience in AUDIENCES:
        assert entry["lessons"].get(audience, 0) >= 4, audience
        assert entry["quiz_questions"].get(audience, 0) >= 20, audience
    assert entry["faqs"] >= 30
    assert entry["coverage"] == 1.0


def test_hotlines_cover_the_campaign_countries() -> None:
    assert set(summary()["summary"]["hotline_countries"]) >= REQUIRED_COUNTRIES


def test_every_country_has_police_first_and_sourced_entries() -> None:
    for pack in shipped_report().packs:
        for file in pack.hotlines:
            country = file.model
            assert country is not None, file.shown
            assert country.emergency[0].service in ("police", "general"), country.country
            for entry in [*country.emergency, *country.hotlines]:
                assert entry.source_url.startswith(("https://", "http://"))


@pytest.mark.parametrize("locale", SHIPPED_LOCALES)
def test_safety_lexicons_are_large_enough(locale: str) -> None:
    (pack,) = shipped_report().packs
    lexicon = next(f.model for f in pack.lexicons if f.model and f.model.locale == locale)
    assert lexicon.entry_count() >= 40
    assert len(lexicon.misspellings) >= 5
    assert len(lexicon.examples.danger) >= 30 and len(lexicon.examples.safe) >= 30


def test_lessons_have_three_to_seven_steps_sources_and_takeaways() -> None:
    (pack,) = shipped_report().packs
    assert len(pack.lessons) >= 16
    for file in pack.lessons:
        lesson = file.model
        assert lesson is not None
        assert 3 <= len(lesson.steps) <= 7, lesson.id
        assert lesson.takeaways and lesson.sources, lesson.id


def test_vietnamese_is_marked_machine_drafted_for_review() -> None:
    from bot.content.translations import iter_texts

    (pack,) = shipped_report().packs
    statuses = set()
    for file in pack.all_files():
        if file.model is None or type(file.model).__name__ == "Lexicon":
            continue
        for _, value in iter_texts(file.model):  # type: ignore[arg-type]
            statuses.add(value["vi"].status)
    assert statuses == {"machine-drafted"}


def test_default_country_is_china() -> None:
    assert load_settings(ROOT).default_country == "CN"
    assert (ROOT / "config.yml").is_file()
