"""The `safesteps` command as volunteers use it: exit codes, paths, JSON, help."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import ROOT, run_cli


def test_help_lists_the_commands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("validate", "preview", "i18n"):
        assert command in result.stdout
    assert run_cli().returncode == 2


def test_validate_a_clean_folder_exits_zero(starter_copy: Path) -> None:
    result = run_cli("validate", "--strict", str(starter_copy))
    assert result.returncode == 0, result.stdout
    assert "OK: 0 error(s), 0 warning(s)" in result.stderr


def test_validate_reports_problems_as_path_line_col(starter_copy: Path) -> None:
    lesson = starter_copy / "lessons" / "children" / "stay-close.yml"
    lesson.write_text(lesson.read_text().replace("audience: children", "audience: adults"))
    result = run_cli("validate", str(lesson), cwd=starter_copy)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        'lessons/children/stay-close.yml:2:11: "audience" must be one of children, teens, '
        'parents or educators; found "adults"'
    ]
    assert "FAILED: 1 error(s)" in result.stderr


def test_only_problems_of_the_given_paths_are_reported(starter_copy: Path) -> None:
    quiz = starter_copy / "quizzes" / "stay-close-quiz.yml"
    quiz.write_text(quiz.read_text().replace("answer: 1", "answer: 9"))
    lesson = starter_copy / "lessons"
    assert run_cli("validate", str(lesson)).returncode == 0
    assert run_cli("validate", str(quiz)).returncode == 1


def test_strict_turns_warnings_into_failure(starter_copy: Path) -> None:
    hotline = starter_copy / "hotlines" / "VN.yml"
    hotline.write_text(hotline.read_text().replace("verified_on: 2026-11-28",
                                                   "verified_on: 2024-01-01"))
    assert run_cli("validate", str(starter_copy)).returncode == 0
    strict = run_cli("validate", "--strict", str(starter_copy))
    assert strict.returncode == 1
    assert "--strict counts warnings as errors" in strict.stderr


def test_json_output_follows_the_contract(starter_copy: Path) -> None:
    quiz = starter_copy / "quizzes" / "stay-close-quiz.yml"
    quiz.write_text(quiz.read_text().replace("answer: 1", "answer: 9"))
    result = run_cli("validate", "--json", str(starter_copy))
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False
    (error,) = data["errors"]
    assert set(error) == {"path", "line", "column", "message"}
    assert error["path"].endswith("stay-close-quiz.yml") and error["line"] == 11
    # The broken quiz cannot be served, so it is not counted.
    assert data["summary"] == {
        "locales": {
            "en": {"lessons": {"children": 1}, "quiz_questions": {}, "faqs": 1,
                   "coverage": 1.0},
            "vi": {"lessons": {"children": 1}, "quiz_questions": {}, "faqs": 1,
                   "coverage": 1.0},
        },
        "hotline_countries": ["VN"],
    }


def test_a_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    result = run_cli("validate", str(tmp_path / "nowhere"))
    assert result.returncode == 1
    assert "there is no such file or folder" in result.stdout


def test_a_file_outside_any_pack_is_explained(tmp_path: Path) -> None:
    stray = tmp_path / "notes.yml"
    stray.write_text("hello: world\n")
    result = run_cli("validate", str(stray))
    assert result.returncode == 1
    assert "not part of a pack" in result.stdout


def test_broken_config_is_reported_with_its_key(tmp_path: Path) -> None:
    (tmp_path / "config.yml").write_text("default_country: CN\nretention_days: soon\npackz: []\n")
    result = run_cli("validate", cwd=tmp_path)
    assert result.returncode == 1
    assert 'config.yml:2:17: "retention_days" should be a whole number' in result.stderr
    assert 'config.yml:3:1: unknown field "packz" (did you mean "packs"?)' in result.stderr
    assert "Traceback" not in result.stderr


def test_python_dash_m_bot_is_the_same_command() -> None:
    assert "validate" in run_cli("validate", "--help", cwd=ROOT).stdout
