"""Translators' round trip: PO export → translate → import; staleness; status; stamping."""

from __future__ import annotations

import io
from pathlib import Path

from babel.messages.pofile import read_po, write_po

from bot.content.i18n import export_po, import_po, translation_status
from bot.content.translations import source_hash
from bot.content.validate import validate
from bot.settings import Settings
from tests.conftest import GOLDEN_TODAY, run_cli

LESSON = Path("lessons/children/stay-close.yml")


def _report(pack: Path):  # type: ignore[no-untyped-def]
    return validate([pack], Settings(root=pack.parent), today=GOLDEN_TODAY)


def test_export_gives_translators_source_context_and_limits(starter_copy: Path) -> None:
    text = export_po(_report(starter_copy).packs, "vi")
    catalog = read_po(io.StringIO(text))
    messages = [m for m in catalog if m.id]
    assert len(messages) == 21  # every text of the starter pack
    question = next(
        m for m in messages if m.context and m.context.endswith("#questions.0.question"))
    assert question.id == "You are lost in a shop. Who can you ask for help?"
    assert question.string == "Em bị lạc trong cửa hàng. Em có thể nhờ ai giúp?"
    assert any("at most 300 characters" in c for c in question.auto_comments)
    assert any("status: machine-drafted" in c for c in question.auto_comments)


def test_import_writes_back_only_what_changed(starter_copy: Path) -> None:
    lesson_before = (starter_copy / LESSON).read_text(encoding="utf-8")
    catalog = read_po(io.StringIO(export_po(_report(starter_copy).packs, "vi")))
    for message in catalog:
        if message.context and message.context.endswith("lessons/children/stay-close.yml#title"):
            message.string = "Luôn ở gần người lớn: \"an toàn\" #1"
    buffer = io.BytesIO()
    write_po(buffer, catalog)
    result = import_po(buffer.getvalue(), "vi", "reviewed", starter_copy.parent)
    assert result.not_found == []
    assert (result.updated, result.unchanged) == (1, 20)
    after = (starter_copy / LESSON).read_text(encoding="utf-8")
    changed = [
        (a, b) for a, b in zip(lesson_before.splitlines(), after.splitlines(), strict=True)
        if a != b
    ]
    assert changed == [
        ("    text: Ở gần người lớn của em", '    text: "Luôn ở gần người lớn: \\"an toàn\\" #1"'),
        ("    status: machine-drafted", "    status: reviewed"),
    ]
    report = _report(starter_copy)
    assert report.errors == [] and report.warnings == []
    lesson = next(f.model for f in report.packs[0].lessons)
    assert lesson is not None
    assert lesson.title["vi"].text == 'Luôn ở gần người lớn: "an toàn" #1'  # type: ignore[union-attr]


def test_changed_source_marks_translation_stale_until_restamped(starter_copy: Path) -> None:
    path = starter_copy / LESSON
    path.write_text(path.read_text(encoding="utf-8").replace(
        "  en: Stay close to your grown-up", "  en: Stay close to your grown-up in crowds"),
        encoding="utf-8")
    stale = [w for w in _report(starter_copy).warnings if "older source text" in w.message]
    assert [(w.line, "title > vi" in w.message) for w in stale] == [(7, True)]
    status = translation_status(_report(starter_copy).packs)
    assert status["vi"].states["stale"] == 1 and status["en"].states["missing"] == 0
    result = run_cli("i18n", "stamp", "--refresh", str(path), cwd=starter_copy.parent)
    assert result.returncode == 0, result.stderr
    assert "on 1 translation(s)" in result.stderr
    assert source_hash("Stay close to your grown-up in crowds") in path.read_text(encoding="utf-8")
    assert _report(starter_copy).warnings == []


def test_stamp_adds_missing_hashes_without_touching_anything_else(starter_copy: Path) -> None:
    path = starter_copy / LESSON
    original = path.read_text(encoding="utf-8")
    unstamped = "\n".join(
        line for line in original.splitlines() if "source_hash:" not in line
    ) + "\n"
    path.write_text(unstamped, encoding="utf-8")
    warnings = _report(starter_copy).warnings
    assert any("8 translation(s) in this file have no source_hash" in w.message for w in warnings)
    result = run_cli("i18n", "stamp", str(path), cwd=starter_copy.parent)
    assert result.returncode == 0, result.stderr
    assert path.read_text(encoding="utf-8") == original


def test_import_skips_fuzzy_and_empty_and_reports_unknown_texts(starter_copy: Path) -> None:
    catalog = read_po(io.StringIO(export_po(_report(starter_copy).packs, "vi")))
    messages = [m for m in catalog if m.id]
    messages[0].flags.add("fuzzy")
    messages[1].string = ""
    messages[2].context = "lessons/children/gone.yml#title"
    buffer = io.BytesIO()
    write_po(buffer, catalog)
    result = import_po(buffer.getvalue(), "vi", "draft", starter_copy.parent)
    assert (result.skipped_fuzzy, result.skipped_empty) == (1, 1)
    assert result.not_found == ["lessons/children/gone.yml#title"]


def test_cli_export_and_status(tmp_path: Path) -> None:
    out = tmp_path / "vi.po"
    result = run_cli("i18n", "export", "--locale", "vi", "-o", str(out))
    assert result.returncode == 0, result.stderr
    with out.open("rb") as f:
        catalog = read_po(f)
    assert len([m for m in catalog if m.id]) > 800
    status = run_cli("i18n", "status")
    assert status.returncode == 0
    rows = {line.split()[0]: line.split() for line in status.stdout.splitlines()[1:]}
    assert set(rows) == {"en", "zh-Hans", "vi"}
    assert rows["vi"][2] == "0"  # nothing missing
    bad = run_cli("i18n", "export", "--locale", "xx-Nope")
    assert bad.returncode == 2 and "not a language code" in bad.stderr


def test_a_hash_that_looks_like_a_number_is_written_quoted(starter_copy: Path) -> None:
    import itertools

    from bot.content.editing import plain_or_quoted

    numeric = next(
        text for text in (f"Stay close {n}" for n in itertools.count())
        if source_hash(text).isdigit() or ("e" in source_hash(text).strip("0123456789")[:1]
        and source_hash(text).replace("e", "").isdigit())
    )
    digest = source_hash(numeric)
    assert plain_or_quoted(digest) == f'"{digest}"'
    path = starter_copy / LESSON
    path.write_text(path.read_text(encoding="utf-8").replace(
        "  en: Stay close to your grown-up", f"  en: {numeric}"), encoding="utf-8")
    assert run_cli("i18n", "stamp", "--refresh", str(path), cwd=starter_copy.parent).returncode == 0
    assert f'source_hash: "{digest}"' in path.read_text(encoding="utf-8")
    assert _report(starter_copy).errors == []
