"""Prompt templates and how completions become programs."""

from __future__ import annotations

import pytest

from reflectseq.enums import Template
from reflectseq.evaluation.benchmarks import load_humaneval
from reflectseq.evaluation.problems import Problem
from reflectseq.evaluation.prompts import TemplateError, build_prompt
from reflectseq.evaluation.runner import clean, resolve_ks

HUMANEVAL_LIKE = Problem(
    task_id="t/0",
    language="py",
    instruction="Add two numbers.",
    prompt_code='import math\n\n\ndef add(a, b):\n    """Sum of a and b."""\n',
    tests="assert add(2, 3) == 5\n",
    entry_point="add",
)


def test_special_template_is_the_trained_format() -> None:
    prompt = build_prompt(HUMANEVAL_LIKE, Template.SPECIAL, "python")
    assert prompt.text == (
        "<|user|><|text|>Add two numbers.<|endofblock|><|endofmessage|>"
        "<|assistant|><|text|>```python\n"
    )
    assert prompt.answer_prefix == "```python\n"
    assert prompt.stops == ("<|endofblock|>", "<|endofmessage|>")
    assert prompt.chat is None


def test_chat_template_sends_the_instruction() -> None:
    prompt = build_prompt(HUMANEVAL_LIKE, Template.CHAT, "python")
    assert (prompt.chat, prompt.text, prompt.stops) == ("Add two numbers.", None, ())


def test_raw_template_continues_the_code_prompt() -> None:
    prompt = build_prompt(HUMANEVAL_LIKE, Template.RAW, "python")
    assert prompt.text == HUMANEVAL_LIKE.prompt_code
    assert "\ndef " in prompt.stops


def test_raw_template_needs_a_code_prompt() -> None:
    standalone = Problem(task_id="x/1", language="py", instruction="Do it.", tests="assert True")
    with pytest.raises(TemplateError, match="x/1: the raw template needs a code prompt"):
        build_prompt(standalone, Template.RAW, "python")


def test_a_body_continues_the_prompt() -> None:
    program = HUMANEVAL_LIKE.program("    return a + b\n")
    assert program == HUMANEVAL_LIKE.prompt_code + "    return a + b\n\nassert add(2, 3) == 5\n"


def test_a_whole_solution_follows_the_prompt() -> None:
    program = HUMANEVAL_LIKE.program("def add(a, b):\n    return math.fsum([a, b])\n")
    assert program.startswith(HUMANEVAL_LIKE.prompt_code + "\ndef add(a, b):")
    # The prompt's import stays available to the solution.
    compiled = compile(program, "program", "exec")
    exec(compiled, {})


def test_special_answers_get_their_fence_back() -> None:
    prompt = build_prompt(HUMANEVAL_LIKE, Template.SPECIAL, "python")
    raw = "def add(a, b):\n    return a + b\n```<|endofblock|>"
    assert clean(HUMANEVAL_LIKE, prompt, raw) == "def add(a, b):\n    return a + b\n"
    # An answer that opens its own fence is not given a second one.
    fenced = "```python\ndef add(a, b):\n    return a + b\n```"
    assert clean(HUMANEVAL_LIKE, prompt, fenced) == "def add(a, b):\n    return a + b\n"


def test_humaneval_instruction_carries_the_prompt() -> None:
    first = load_humaneval()[0]
    assert first.task_id == "HumanEval/0"
    assert first.instruction.startswith("Write a complete Python function for the problem.\n\n")
    assert first.prompt_code in first.instruction
    assert first.tests.endswith("check(has_close_elements)\n")


def test_default_ks_follow_the_sample_count() -> None:
    assert resolve_ks(None, [1]) == [1]
    assert resolve_ks(None, [20, 12]) == [1, 10]
    assert resolve_ks([10, 1, 10], [10]) == [1, 10]
    with pytest.raises(ValueError, match="pass@10 needs at least 10 samples"):
        resolve_ks([1, 10], [10, 4])
