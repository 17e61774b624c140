"""The loop's pure next-step decision and the chat it sends, without servers."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from reflectseq.enums import BlockKind
from reflectseq.llm.base import ChatMessage, ContextOverflow
from workers.loop.context_budget import (
    Build,
    Fitted,
    PromptBudget,
    budget_after_overflow,
    fit_chat,
    latest_answer,
    shown_trimmed,
    trimmed,
)
from workers.loop.decide import (
    Action,
    BlockView,
    Prompt,
    Snapshot,
    Step,
    executed_rounds,
    next_action,
    normalised_code,
)
from workers.loop.transcript import one_off_request, output_head, stage_one_request
from workers.prompts import TaskView, load_prompts

TRIM_MARK = "characters of earlier output trimmed ...]"
TEXT = BlockView(BlockKind.TEXT, "plan", llm_call_id=1)
CODE = BlockView(BlockKind.CODE, "x = 1", runnable=True, llm_call_id=1)
FAILED = BlockView(BlockKind.EXECUTION, "Execution result: failed")
PASSED = BlockView(BlockKind.EXECUTION, "Execution result: passed", passed=True)


def snapshot(*blocks: BlockView, rounds: int = 0, **changes: object) -> Snapshot:
    values: dict[str, object] = {
        "has_instruction": True,
        "reflection": blocks,
        "has_one_off_answer": False,
        "one_off_runnable": False,
        "one_off_verified": False,
        "rounds": rounds,
        "max_rounds": 3,
        "budget_exhausted": False,
    }
    values.update(changes)
    return Snapshot(**values)  # type: ignore[arg-type]


def test_the_happy_path_in_order() -> None:
    assert next_action(snapshot(has_instruction=False)).step == Step.WRITE_INSTRUCTION
    assert next_action(snapshot()) == Action(Step.ASK_REFLECTION, prompt=Prompt.FIRST)
    assert next_action(snapshot(TEXT, CODE)).step == Step.EXECUTE
    assert next_action(snapshot(TEXT, CODE, PASSED, rounds=1)) == Action(
        Step.ASK_ONE_OFF, reflection_pass=True
    )
    answered = snapshot(
        TEXT, CODE, PASSED, rounds=1, has_one_off_answer=True, one_off_runnable=True
    )
    assert next_action(answered).step == Step.VERIFY
    verified = snapshot(
        rounds=1, has_one_off_answer=True, one_off_runnable=True, one_off_verified=True
    )
    assert next_action(verified).step == Step.DONE


def test_a_failure_asks_for_a_fix_until_the_rounds_are_spent() -> None:
    assert next_action(snapshot(TEXT, CODE, FAILED, rounds=1)) == Action(
        Step.ASK_REFLECTION, prompt=Prompt.AFTER_FAILURE
    )
    spent = snapshot(*_round("a = 1", 1), *_round("a = 2", 2), *_round("a = 3", 3), rounds=3)
    assert next_action(spent) == Action(Step.ASK_ONE_OFF, reflection_pass=False)


def test_budget_stops_reflection_but_never_skips_a_pending_execution() -> None:
    assert next_action(snapshot(TEXT, CODE, budget_exhausted=True)).step == Step.EXECUTE
    assert next_action(snapshot(TEXT, CODE, FAILED, rounds=1, budget_exhausted=True)) == Action(
        Step.ASK_ONE_OFF, reflection_pass=False
    )


def test_answers_without_code_get_one_reminder() -> None:
    first = BlockView(BlockKind.TEXT, "I think...", llm_call_id=1)
    second = BlockView(BlockKind.TEXT, "Still thinking", llm_call_id=2)
    assert next_action(snapshot(first)) == Action(Step.ASK_REFLECTION, prompt=Prompt.MISSING_CODE)
    assert next_action(snapshot(first, second)) == Action(Step.ASK_ONE_OFF, reflection_pass=False)


def test_unverifiable_one_off_answer_finishes() -> None:
    assert next_action(snapshot(has_one_off_answer=True)).step == Step.FINISH_UNVERIFIABLE


TASK = TaskView(
    task="Write add.",
    language="Python",
    fence="python",
    tests="assert add(1, 2) == 3",
    show_tests=True,
    language_code="py",
    entry_point="add",
)


def test_chat_alternates_answers_and_feedback_with_fix_requests() -> None:
    prompts = load_prompts("v1")
    analysis = BlockView(BlockKind.ANALYSIS, "It subtracted.", llm_call_id=2)
    fix = BlockView(BlockKind.CODE, "y = 2", runnable=True, llm_call_id=2)
    chat = stage_one_request(
        prompts,
        TASK,
        "instruction",
        (TEXT, CODE, FAILED, analysis, fix, FAILED),
        Prompt.AFTER_FAILURE,
    )
    assert [m["role"] for m in chat] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert chat[2]["content"] == "plan\n\n```python\nx = 1\n```"
    assert (
        chat[3]["content"].startswith("Execution result: failed")
        and "corrected" in chat[3]["content"]
    )
    assert chat[-1]["content"].endswith(prompts.render("retry_after_failure", TASK))

    one_off = one_off_request(prompts, TASK, "instruction", (TEXT, CODE, PASSED), "ONE-OFF")
    assert one_off[-1] == {"role": "user", "content": "Execution result: passed\n\nONE-OFF"}


def _round(code: str, call: int, output: str = "Traceback: boom") -> tuple[BlockView, ...]:
    return (
        BlockView(BlockKind.ANALYSIS, f"attempt {call}", llm_call_id=call),
        BlockView(BlockKind.CODE, code, runnable=True, llm_call_id=call),
        BlockView(BlockKind.EXECUTION, f"Execution result: failed\n{output}", output=output),
    )


def test_layout_does_not_make_a_program_new() -> None:
    assert normalised_code("def f(x):\n    return x  \n\n\n") == normalised_code(
        "def f(x):\n\treturn  x\n"
    )
    assert normalised_code("return x + 1") != normalised_code("return x - 1")


def test_a_repeated_program_gets_its_own_nudge_and_the_second_repeat_stalls() -> None:
    program = "def add(a, b):\n    return a - b"
    once = snapshot(*_round(program, 1), *_round(program + "\n\n", 2), rounds=2, max_rounds=5)
    assert next_action(once) == Action(Step.ASK_REFLECTION, prompt=Prompt.REPEATED_CODE)
    assert [r.repeats for r in executed_rounds(once.reflection)] == [None, 1]

    changed = snapshot(
        *once.reflection, *_round("def add(a, b):\n    return b", 3), rounds=3, max_rounds=5
    )
    assert next_action(changed) == Action(Step.ASK_REFLECTION, prompt=Prompt.AFTER_FAILURE)

    twice = snapshot(*changed.reflection, *_round(program, 4), rounds=4, max_rounds=5)
    assert next_action(twice) == Action(Step.ASK_ONE_OFF, reflection_pass=False, stalled=True)


def test_an_answer_whose_every_sample_repeated_ends_stage_one_stalled() -> None:
    program = "def add(a, b):\n    return a - b"
    stuck = snapshot(*_round(program, 1), rounds=1, max_rounds=5, stalled=True)
    assert next_action(stuck) == Action(Step.ASK_ONE_OFF, reflection_pass=False, stalled=True)


def test_the_repeated_code_nudge_names_the_round_and_its_failure() -> None:
    program = "def add(a, b):\n    return a - b"
    blocks = (
        *_round(program, 1, output="AssertionError: add(2, 3) == 5"),
        *_round(program, 2, output="AssertionError: add(2, 3) == 5"),
    )
    v2 = load_prompts("v2")
    chat = stage_one_request(v2, TASK, "instruction", blocks, Prompt.REPEATED_CODE)
    assert "same program you sent in round 1" in chat[-1]["content"]
    assert "AssertionError: add(2, 3) == 5" in chat[-1]["content"]
    # The first failure got the ordinary request for a fix.
    assert chat[3]["content"].endswith(v2.render("retry_after_failure", TASK))
    # A version without the wording keeps its own behaviour.
    v1 = load_prompts("v1")
    chat = stage_one_request(v1, TASK, "instruction", blocks, Prompt.REPEATED_CODE)
    assert chat[-1]["content"].endswith(v1.render("retry_after_failure", TASK))


def test_a_failure_head_is_short() -> None:
    assert output_head("\n".join(f"line {n}" for n in range(40))).count("\n") == 11
    assert output_head("x" * 5000).endswith(" ...")


def test_context_exhaustion_ends_stage_one() -> None:
    assert next_action(snapshot(TEXT, CODE, FAILED, rounds=1, context_exhausted=True)) == Action(
        Step.ASK_ONE_OFF, reflection_pass=False
    )


def _chat(blocks: tuple[BlockView, ...]) -> Build:
    """A chat of the blocks' contents as shown, in order (what fitting measures)."""

    def build(shown: Mapping[int, str]) -> list[ChatMessage]:
        return [
            {"role": "user", "content": shown.get(position, block.content)}
            for position, block in enumerate(blocks)
        ]

    return build


def test_trimming_keeps_head_and_tail_and_says_how_much_went() -> None:
    assert trimmed("short", 600, "output") == "short"
    text = "H" * 500 + "M" * 1000 + "T" * 500
    cut = trimmed(text, 600, "output")
    assert cut.startswith("H" * 300) and cut.endswith("T" * 300)
    assert "[... 1400 characters of earlier output trimmed ...]" in cut
    assert trimmed(text, 0, "code") == "[... 2000 characters of earlier code trimmed ...]"
    execution = BlockView(BlockKind.EXECUTION, "Execution result: failed (exit code 1)\n" + text)
    assert shown_trimmed(execution, 0).startswith("Execution result: failed (exit code 1)\n[...")


def test_fitting_gives_up_earlier_output_first_and_never_the_answer_being_fixed() -> None:
    long = "x" * 3000
    blocks = (
        *_round("old code " * 100, 1, output=long),
        *_round("new code " * 100, 2, output=long),
    )
    blocks = tuple(
        BlockView(b.kind, f"Execution result: failed\n{long}")
        if b.kind == BlockKind.EXECUTION
        else b
        for b in blocks
    )
    protected = latest_answer(blocks)
    assert protected == frozenset({3, 4})
    build = _chat(blocks)
    untrimmed = PromptBudget(prompt_tokens=10**6).estimate(build({}))

    first = fit_chat(build, blocks, PromptBudget(untrimmed - 10), protected)
    assert first is not None and first.trimmed_chars > 0
    assert TRIM_MARK in first.messages[2]["content"]  # round 1's output went first
    assert first.messages[1]["content"] == blocks[1].content  # its code was not needed yet

    tight = fit_chat(build, blocks, PromptBudget(untrimmed // 3), protected)
    assert tight is not None
    assert TRIM_MARK in tight.messages[5]["content"]  # at last the last output too
    assert tight.messages[4]["content"] == blocks[4].content  # the code to fix stays whole
    assert fit_chat(build, blocks, PromptBudget(50), protected) is None
    assert fit_chat(build, blocks, None, protected) == Fitted(build({}), 0)


def test_a_refusal_tightens_the_budget_with_the_servers_numbers() -> None:
    sent: list[ChatMessage] = [{"role": "user", "content": "x" * 9000}]
    refusal = ContextOverflow("too long", context_tokens=2500, prompt_tokens=4508)
    after = budget_after_overflow(None, refusal, sent, max_tokens=256)
    assert after.prompt_tokens == 2244
    assert after.chars_per_token == pytest.approx(2.0)  # 9000 characters were 4500 tokens
    silent = ContextOverflow("too long", context_tokens=None, prompt_tokens=None)
    budget = PromptBudget(prompt_tokens=5000)
    assert budget_after_overflow(budget, silent, sent, 256).prompt_tokens < budget.estimate(sent)
