"""The prompt versions: v1 frozen, v2's harness contract per language family."""

from __future__ import annotations

import hashlib
from importlib.resources import files

import pytest

from reflectseq.languages import get_language, language_codes
from reflectseq.specs import GenerationConfigSpec
from workers.prompts import TaskView, load_prompts

# Stored sequences name the version that produced them: its wording must never change.
V1_SHA256 = "21ba55225afdbc3baf1edd015c8e28f85bf87b1b1e76568bc6ce29509203faac"
DRIVER_LANGUAGES = ("cpp", "cs", "d", "go", "hs", "java", "rs", "scala")


def _task(
    code: str, *, tests: str = "TESTS", entry_point: str = "digit_sum", shown: bool = True
) -> TaskView:
    language = get_language(code)
    return TaskView(
        task="Sum the digits.",
        language=language.name,
        fence=language.fence,
        tests=tests,
        show_tests=shown,
        language_code=code,
        entry_point=entry_point,
    )


def test_v1_is_byte_identical() -> None:
    data = files("workers.prompts").joinpath("v1.toml").read_bytes()
    assert hashlib.sha256(data).hexdigest() == V1_SHA256


def test_new_configs_use_v2() -> None:
    assert GenerationConfigSpec().prompt_version == "v2"


@pytest.mark.parametrize("code", language_codes())
def test_every_language_is_told_its_harness_contract(code: str) -> None:
    prompts = load_prompts("v2")
    stage_one = prompts.render("reflection", _task(code))
    one_off = prompts.render("one_off", _task(code))
    for text in (stage_one, one_off):
        assert "How your answer is run: the tests above are appended to your code" in text
        assert "`digit_sum`" in text
    if code in DRIVER_LANGUAGES:
        assert "they bring the program's entry point" in stage_one
        assert "Do not write a `main`, test functions" in stage_one
    else:
        assert "in the same file, after your definitions" in stage_one
        assert "Do not write tests, asserts or example calls of your own" in stage_one
    reminder = prompts.render("retry_after_failure", _task(code))
    assert reminder.endswith("without `main` or tests." if code in DRIVER_LANGUAGES else "calls.")


def test_language_notes_say_what_the_tests_bring() -> None:
    prompts = load_prompts("v2")
    assert "do not `require` it" in prompts.render("reflection", _task("js"))
    assert "`if __name__" in prompts.render("reflection", _task("py"))
    assert "`package main`" in prompts.render("reflection", _task("go"))
    assert "inside `class Problem`" in prompts.render("one_off", _task("java"))


def test_hidden_tests_and_unnamed_functions_are_worded_as_such() -> None:
    prompts = load_prompts("v2")
    text = prompts.render("reflection", _task("rs", entry_point="", shown=False))
    assert "the tests are appended" in text and "TESTS" not in text
    assert "call the function the task asks for" in text


def test_without_tests_the_model_writes_its_own_asserts() -> None:
    prompts = load_prompts("v2")
    text = prompts.render("reflection", _task("cpp", tests=""))
    assert "Write your own assertion-based tests" in text
    assert "How your answer is run" not in text and "complete, runnable program" in text
    assert "assertion-based tests" in prompts.render("one_off", _task("cpp", tests=""))


def test_optional_templates() -> None:
    assert not load_prompts("v1").has("repeated_code")
    assert not load_prompts("v1").has("continue_answer")
    v2 = load_prompts("v2")
    repeated = v2.render("repeated_code", _task("py"), round=2, failure="NameError: x")
    assert "round 2" in repeated and "NameError: x" in repeated
    assert "cut off" in v2.render("continue_answer", _task("py"))
