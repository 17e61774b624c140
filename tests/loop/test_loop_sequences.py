"""The loop end to end in one process: real Postgres, real sandbox, the scripted LLM endpoint."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from reflectseq.db.models import Block, LlmCall, Sequence
from reflectseq.enums import (
    BlockKind,
    ExecutionStatus,
    LlmCallStatus,
    Role,
    SequenceStage,
    SequenceStatus,
)
from reflectseq.specs import InstructionSpec
from reflectseq.store.sequences import load_sequence_tree
from tests.loop.conftest import add_task, create_tasks, fenced_python
from tests.loop.llm_server import ScriptedLlm, answer, error
from workers.loop.machine import LoopContext, Outcome, run_sequence

STALE = timedelta(minutes=5)
WRONG_SUB = "def add(a, b):\n    return a - b"
WRONG_MUL = "def add(a, b):\n    return a * b"
RIGHT = "def add(a, b):\n    return a + b"


def _kinds(factory: sessionmaker[Session], sequence_id: int) -> list[list[str]]:
    with factory() as session:
        tree = load_sequence_tree(session, sequence_id)
        return [[str(block.kind) for block in message.blocks] for message in tree.messages]


def test_fails_twice_then_passes(
    context: LoopContext,
    llm_server: ScriptedLlm,
    key: str,
    pg_session_factory: sessionmaker[Session],
) -> None:
    llm_server.script(
        key,
        [
            answer(fenced_python(WRONG_SUB, "First attempt.")),
            answer(fenced_python(WRONG_MUL, "The result was wrong: I subtracted. Fixing.")),
            answer(fenced_python(RIGHT, "Multiplying was wrong too; adding now.")),
            answer(fenced_python(RIGHT, "Add the two numbers.")),
        ],
    )
    created = create_tasks(pg_session_factory, [add_task(key)])
    (sequence_id,) = created.sequence_ids

    assert run_sequence(context, sequence_id, worker="test", stale_after=STALE) == Outcome.COMPLETED

    with pg_session_factory() as session:
        tree = load_sequence_tree(session, sequence_id)
        assert tree.status == SequenceStatus.COMPLETED
        assert tree.stage == SequenceStage.DONE
        assert (tree.rounds, tree.reflection_pass, tree.final_pass) == (3, True, True)
        assert tree.tokens_in == 4 * 50 and tree.tokens_out == 4 * 20
        assert [m.role for m in tree.messages] == [
            Role.USER,
            Role.ASSISTANT,
            Role.USER,
            Role.ASSISTANT,
        ]
        reflection = tree.messages[1].blocks
        executions = [b for b in reflection if b.kind == BlockKind.EXECUTION]
        assert [b.execution_status for b in executions] == [
            ExecutionStatus.FAILED,
            ExecutionStatus.FAILED,
            ExecutionStatus.PASSED,
        ]
        assert "AssertionError" in (executions[0].stderr or "")
        assert executions[0].content.startswith("Execution result: failed")
        assert [b.content for b in reflection if b.kind == BlockKind.CODE] == [
            WRONG_SUB,
            WRONG_MUL,
            RIGHT,
        ]
        assert [b.kind for b in reflection if b.kind in (BlockKind.TEXT, BlockKind.ANALYSIS)] == [
            BlockKind.TEXT,
            BlockKind.ANALYSIS,
            BlockKind.ANALYSIS,
        ]
        final = tree.messages[3].blocks
        assert [b.kind for b in final] == [BlockKind.TEXT, BlockKind.EXECUTION]
        assert "```python\n" + RIGHT in final[0].content
        assert final[1].execution_status == ExecutionStatus.PASSED
        one_off_instruction = tree.messages[2].blocks[0].content
        assert key in one_off_instruction  # restates the problem
        assert "earlier attempt" in one_off_instruction
        assert (
            session.scalar(
                select(func.count()).select_from(LlmCall).where(LlmCall.sequence_id == sequence_id)
            )
            == 4
        )
    # The model saw the failure before fixing: the second request carries the first traceback.
    second = llm_server.requests_for(key)[1]["messages"]
    assert "AssertionError" in second[-1]["content"]
    # The one-off request is asked after the whole reflection.
    last = llm_server.requests_for(key)[3]["messages"]
    assert last[-1]["role"] == "user" and "earlier attempt" in last[-1]["content"]


def test_never_passes_stops_at_max_rounds(
    context: LoopContext,
    llm_server: ScriptedLlm,
    key: str,
    pg_session_factory: sessionmaker[Session],
) -> None:
    llm_server.script(key, [answer(fenced_python(WRONG_SUB))])
    # Without resampling, a repeat is run (with its nudge) like any other round.
    created = create_tasks(pg_session_factory, [add_task(key)], max_rounds=2, resample_repeats=0)
    (sequence_id,) = created.sequence_ids

    assert run_sequence(context, sequence_id, worker="test", stale_after=STALE) == Outcome.COMPLETED

    with pg_session_factory() as session:
        sequence = session.get_one(Sequence, sequence_id)
        assert (sequence.rounds, sequence.reflection_pass, sequence.final_pass) == (2, False, False)
    assert len(llm_server.requests_for(key)) == 3  # two rounds and the one-off answer
    assert _kinds(pg_session_factory, sequence_id)[1] == ["text", "code", "execution"] * 1 + [
        "analysis",
        "code",
        "execution",
    ]


def test_rate_limited_call_is_retried(
    context: LoopContext,
    llm_server: ScriptedLlm,
    key: str,
    pg_session_factory: sessionmaker[Session],
) -> None:
    llm_server.script(
        key,
        [error(429, retry_after="0.2"), answer(fenced_python(RIGHT)), answer(fenced_python(RIGHT))],
    )
    created = create_tasks(pg_session_factory, [add_task(key)])
    (sequence_id,) = created.sequence_ids

    assert run_sequence(context, sequence_id, worker="test", stale_after=STALE) == Outcome.COMPLETED
    with pg_session_factory() as session:
        sequence = session.get_one(Sequence, sequence_id)
        assert (sequence.rounds, sequence.reflection_pass, sequence.final_pass) == (1, True, True)
    assert len(llm_server.requests_for(key)) == 3


def test_endpoint_failing_forever_fails_the_set_clearly(
    context: LoopContext,
    llm_server: ScriptedLlm,
    key: str,
    pg_session_factory: sessionmaker[Session],
) -> None:
    llm_server.script(key, [error(500)])
    specs = [add_task(f"{key} #{n}") for n in range(5)]
    created = create_tasks(pg_session_factory, specs)

    outcomes = [
        run_sequence(context, sequence_id, worker="test", stale_after=STALE)
        for sequence_id in created.sequence_ids
    ]

    # Three sequences fail on their own (after 1 + 2 retries each); then the breaker fails the rest.
    assert outcomes == [Outcome.FAILED] * 3 + [Outcome.STOPPED] * 2
    assert len(llm_server.requests_for(key)) == 9
    with pg_session_factory() as session:
        rows = session.scalars(
            select(Sequence)
            .where(Sequence.instruction_set_id == created.set_id)
            .order_by(Sequence.id)
        ).all()
        assert {row.status for row in rows} == {SequenceStatus.FAILED}
        assert "500" in (rows[0].error or "")
        assert "consecutive failed LLM calls" in (rows[4].error or "")
        calls = session.scalars(select(LlmCall).where(LlmCall.sequence_id == rows[0].id)).all()
        assert len(calls) == 1 and calls[0].error and calls[0].raw_response["status_code"] == 500


def test_no_tests_given_flags_asserting_nothing(
    context: LoopContext,
    llm_server: ScriptedLlm,
    key: str,
    pg_session_factory: sessionmaker[Session],
) -> None:
    llm_server.script(key, [answer(fenced_python(RIGHT + "\nprint(add(1, 2))"))])
    created = create_tasks(pg_session_factory, [add_task(key, tests=None)])
    (sequence_id,) = created.sequence_ids

    assert run_sequence(context, sequence_id, worker="test", stale_after=STALE) == Outcome.COMPLETED
    with pg_session_factory() as session:
        sequence = session.get_one(Sequence, sequence_id)
        assert sequence.flags.get("no_asserts") is True
        assert sequence.reflection_pass is True


def test_special_tokens_in_answers_are_removed_and_counted(
    context: LoopContext,
    llm_server: ScriptedLlm,
    key: str,
    pg_session_factory: sessionmaker[Session],
) -> None:
    llm_server.script(key, [answer(fenced_python(RIGHT) + "<|endofblock|><|endofmessage|>")])
    created = create_tasks(pg_session_factory, [add_task(key)])
    (sequence_id,) = created.sequence_ids

    run_sequence(context, sequence_id, worker="test", stale_after=STALE)
    with pg_session_factory() as session:
        sequence = session.get_one(Sequence, sequence_id)
        assert sequence.flags["special_tokens_removed"] == 4
        contents = session.scalars(select(Block.content)).all()
        assert not any("<|endofblock|>" in content for content in contents)


def test_other_language_task(
    context: LoopContext,
    llm_server: ScriptedLlm,
    key: str,
    pg_session_factory: sessionmaker[Session],
) -> None:
    code = "function add(a, b) { return a + b; }"
    llm_server.script(key, [answer(f"Here.\n```javascript\n{code}\n```")])
    spec = InstructionSpec(
        text=f"Write add(a, b) in JavaScript. {key}",
        language="js",
        tests="const assert = require('assert');\nassert.deepEqual(add(2, 3), 5);",
    )
    created = create_tasks(pg_session_factory, [spec])
    (sequence_id,) = created.sequence_ids

    assert run_sequence(context, sequence_id, worker="test", stale_after=STALE) == Outcome.COMPLETED
    with pg_session_factory() as session:
        sequence = session.get_one(Sequence, sequence_id)
        assert (sequence.reflection_pass, sequence.final_pass) == (True, True)


def test_a_model_resending_its_program_is_nudged_then_stopped_as_stalled(
    context: LoopContext,
    llm_server: ScriptedLlm,
    key: str,
    pg_session_factory: sessionmaker[Session],
) -> None:
    # What small models do: the same analysis and the same program, round after round, with
    # only the layout changed.
    analysis = "The function adds the numbers, so the tests should pass now."
    llm_server.script(
        key,
        [
            answer(fenced_python(WRONG_SUB, "First attempt.")),
            answer(fenced_python(WRONG_SUB + "\n\n", analysis)),
            answer(fenced_python(WRONG_SUB.replace("    ", "\t"), analysis)),
            answer(fenced_python(RIGHT, "Adding the numbers.")),
        ],
    )
    created = create_tasks(pg_session_factory, [add_task(key)], max_rounds=5, resample_repeats=0)
    (sequence_id,) = created.sequence_ids

    assert run_sequence(context, sequence_id, worker="test", stale_after=STALE) == Outcome.COMPLETED

    with pg_session_factory() as session:
        sequence = session.get_one(Sequence, sequence_id)
        assert (sequence.rounds, sequence.reflection_pass, sequence.final_pass) == (3, False, True)
        assert sequence.flags["stalled"] is True
    requests = llm_server.requests_for(key)
    assert len(requests) == 4  # three rounds, then the one-off answer
    second, third = requests[1]["messages"][-1], requests[2]["messages"][-1]
    assert "corrected solution" in second["content"]
    assert "same program you sent in round 1" in third["content"]
    assert "AssertionError" in third["content"]


def test_a_repeated_program_is_sampled_again_hotter_before_it_runs(
    context: LoopContext,
    llm_server: ScriptedLlm,
    key: str,
    pg_session_factory: sessionmaker[Session],
) -> None:
    analysis = "The function adds the numbers, so the tests should pass now."
    llm_server.script(
        key,
        [
            answer(fenced_python(WRONG_SUB, "First attempt.")),
            answer(fenced_python(WRONG_SUB + "\n", analysis)),  # discarded, never run
            answer(fenced_python(RIGHT, "I subtracted; adding now.")),
            answer(fenced_python(RIGHT, "Adding the numbers.")),
        ],
    )
    created = create_tasks(pg_session_factory, [add_task(key)], temperature=0.2, seed=11)
    (sequence_id,) = created.sequence_ids

    assert run_sequence(context, sequence_id, worker="test", stale_after=STALE) == Outcome.COMPLETED

    with pg_session_factory() as session:
        sequence = session.get_one(Sequence, sequence_id)
        assert (sequence.rounds, sequence.reflection_pass, sequence.final_pass) == (2, True, True)
        assert not sequence.flags.get("stalled")
        assert (sequence.tokens_in, sequence.tokens_out) == (4 * 50, 4 * 20)  # all four paid
        codes = session.scalars(
            select(Block.content)
            .join(Block.message)
            .where(Block.kind == BlockKind.CODE, Block.message.has(sequence_id=sequence_id))
            .order_by(Block.id)
        ).all()
        assert codes == [WRONG_SUB, RIGHT]  # the repeat left no trace in the record
        calls = session.scalars(
            select(LlmCall).where(LlmCall.sequence_id == sequence_id).order_by(LlmCall.id)
        ).all()
        assert [call.status for call in calls] == [
            LlmCallStatus.ANSWERED,
            LlmCallStatus.REPEATED,
            LlmCallStatus.ANSWERED,
            LlmCallStatus.ANSWERED,
        ]
        assert calls[1].request["messages"] == calls[2].request["messages"]
        assert calls[2].request_hash != calls[1].request_hash
    sent = [(r["temperature"], r["seed"]) for r in llm_server.requests_for(key)]
    assert sent == [(0.2, 11), (0.2, 11), (pytest.approx(0.6), 12), (0.2, 11)]


def test_a_model_that_only_repeats_is_resampled_then_stalls_without_a_repeated_round(
    context: LoopContext,
    llm_server: ScriptedLlm,
    key: str,
    pg_session_factory: sessionmaker[Session],
) -> None:
    llm_server.script(key, [answer(fenced_python(WRONG_SUB, "Subtracting."))] * 9)
    created = create_tasks(pg_session_factory, [add_task(key)], max_rounds=5, resample_repeats=1)
    (sequence_id,) = created.sequence_ids

    assert run_sequence(context, sequence_id, worker="test", stale_after=STALE) == Outcome.COMPLETED

    with pg_session_factory() as session:
        sequence = session.get_one(Sequence, sequence_id)
        assert (sequence.rounds, sequence.reflection_pass) == (1, False)
        assert sequence.flags["stalled"] is True
        assert sequence.tokens_out == 4 * 20  # the discarded samples are paid for
        statuses = session.scalars(
            select(LlmCall.status).where(LlmCall.sequence_id == sequence_id).order_by(LlmCall.id)
        ).all()
    # round 1; the repeat and its one resample, neither run; the one-off answer
    assert [str(s) for s in statuses] == ["answered", "repeated", "repeated", "answered"]
    assert _kinds(pg_session_factory, sequence_id)[1] == ["text", "code", "execution"]
