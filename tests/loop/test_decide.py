"""The loop's pure next-step decision and the chat it sends, without servers."""

from __future__ import annotations

from reflectseq.enums import BlockKind
from workers.loop.decide import Action, BlockView, Prompt, Snapshot, Step, next_action
from workers.loop.transcript import one_off_request, stage_one_request
from workers.prompts import TaskView, load_prompts

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
    spent = snapshot(*(TEXT, CODE, FAILED) * 3, rounds=3)
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
