"""Answers cut off at max_tokens, and refusals that are about one request, not the endpoint.

Real Postgres, the real sandbox and the scripted endpoint, which answers like a server whose
model ran out of tokens (``finish_reason: length``) or refuses a request with HTTP 400.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from reflectseq.db.models import LlmCall, Sequence
from reflectseq.enums import BlockKind, SequenceStatus
from reflectseq.store.sequences import load_sequence_tree
from tests.loop.conftest import add_task, create_tasks, fenced_python, run_one_task
from tests.loop.llm_server import ScriptedLlm, answer, error
from workers.loop.machine import LoopContext, Outcome, run_sequence

STALE = timedelta(minutes=5)
RIGHT = "def add(a, b):\n    return a + b"
# A reply that ran out of tokens in the middle of its program.
CUT_IN_CODE = "The sum is the answer.\n\n```python\ndef add(a, b):\n"
REST = "    return a + b\n```\n"


def test_a_cut_off_answer_is_continued_and_joined(
    context: LoopContext,
    llm_server: ScriptedLlm,
    key: str,
    pg_session_factory: sessionmaker[Session],
) -> None:
    llm_server.script(
        key,
        [
            answer(CUT_IN_CODE, finish_reason="length", tokens_out=16),
            answer(REST, tokens_out=8),
            answer(fenced_python(RIGHT)),
        ],
    )
    sequence_id = run_one_task(context, pg_session_factory, add_task(key), max_continuations=2)

    requests = llm_server.requests_for(key)
    assert len(requests) == 3
    asked_to_continue = requests[1]["messages"]
    assert asked_to_continue[-2] == {"role": "assistant", "content": CUT_IN_CODE}
    assert "cut off at the length limit" in asked_to_continue[-1]["content"]
    with pg_session_factory() as session:
        sequence = session.get_one(Sequence, sequence_id)
        assert (sequence.rounds, sequence.reflection_pass, sequence.final_pass) == (1, True, True)
        assert "truncated_answer" not in sequence.flags
        first = session.scalars(
            select(LlmCall).where(LlmCall.sequence_id == sequence_id).order_by(LlmCall.id)
        ).first()
        assert first is not None
        assert first.response_text == CUT_IN_CODE + REST
        assert (first.tokens_in, first.tokens_out, first.finish_reason) == (100, 24, "stop")
        assert len(first.raw_response["continued"]) == 2
        tree = load_sequence_tree(session, sequence_id)
        code = [b for b in tree.messages[1].blocks if b.kind == BlockKind.CODE]
        assert [b.content for b in code] == [RIGHT]


def test_without_continuations_a_cut_off_answer_is_a_round_without_code(
    context: LoopContext,
    llm_server: ScriptedLlm,
    key: str,
    pg_session_factory: sessionmaker[Session],
) -> None:
    llm_server.script(
        key,
        [
            answer(CUT_IN_CODE, finish_reason="length"),
            answer(fenced_python(RIGHT, "Here is the whole function.")),
            answer(fenced_python(RIGHT)),
        ],
    )
    sequence_id = run_one_task(context, pg_session_factory, add_task(key), max_continuations=0)

    requests = llm_server.requests_for(key)
    assert len(requests) == 3
    assert "no complete ```python code block" in requests[1]["messages"][-1]["content"]
    with pg_session_factory() as session:
        sequence = session.get_one(Sequence, sequence_id)
        assert sequence.status == SequenceStatus.COMPLETED
        assert (sequence.rounds, sequence.reflection_pass, sequence.final_pass) == (1, True, True)
        assert sequence.flags["truncated_answer"] == 1
        tree = load_sequence_tree(session, sequence_id)
        blocks = tree.messages[1].blocks
        assert [(b.kind, b.language) for b in blocks[:2]] == [
            (BlockKind.TEXT, None),
            (BlockKind.CODE, None),  # half a program: kept, never run
        ]


def test_an_answer_still_cut_off_after_the_continuations_is_kept_cut_off(
    context: LoopContext,
    llm_server: ScriptedLlm,
    key: str,
    pg_session_factory: sessionmaker[Session],
) -> None:
    rambling = "Let me think about this very carefully. " * 5
    more = "First, the inputs: two numbers a and b, which may be negative. " * 3
    llm_server.script(
        key,
        [
            answer(rambling, finish_reason="length"),
            answer(more, finish_reason="length"),
            answer(fenced_python(RIGHT)),
            answer(fenced_python(RIGHT)),
        ],
    )
    sequence_id = run_one_task(context, pg_session_factory, add_task(key), max_continuations=1)

    assert len(llm_server.requests_for(key)) == 4
    with pg_session_factory() as session:
        sequence = session.get_one(Sequence, sequence_id)
        assert sequence.flags["truncated_answer"] == 1
        assert (sequence.reflection_pass, sequence.final_pass) == (True, True)
        tree = load_sequence_tree(session, sequence_id)
        assert tree.messages[1].blocks[0].content == (rambling + more).strip()


def test_a_one_off_answer_cut_off_in_its_code_ends_unverified(
    context: LoopContext,
    llm_server: ScriptedLlm,
    key: str,
    pg_session_factory: sessionmaker[Session],
) -> None:
    llm_server.script(
        key,
        [answer(fenced_python(RIGHT)), answer(CUT_IN_CODE, finish_reason="length")],
    )
    sequence_id = run_one_task(context, pg_session_factory, add_task(key), max_continuations=0)

    with pg_session_factory() as session:
        sequence = session.get_one(Sequence, sequence_id)
        assert (sequence.reflection_pass, sequence.final_pass) == (True, False)
        assert sequence.flags["truncated_answer"] == 1 and sequence.flags["final_no_code"]
        tree = load_sequence_tree(session, sequence_id)
        assert [b.kind for b in tree.messages[3].blocks] == [BlockKind.TEXT]


def test_requests_refused_with_400_fail_their_sequences_but_never_the_set(
    context: LoopContext,
    llm_server: ScriptedLlm,
    key: str,
    pg_session_factory: sessionmaker[Session],
) -> None:
    # vLLM's answer to a sampling parameter it does not take: about the request, not the server.
    llm_server.script(key, [error(400, "'seed' must be a non-negative integer")])
    specs = [add_task(f"{key} #{n}") for n in range(5)]
    created = create_tasks(pg_session_factory, specs)

    outcomes = [
        run_sequence(context, sequence_id, worker="test", stale_after=STALE)
        for sequence_id in created.sequence_ids
    ]

    assert outcomes == [Outcome.FAILED] * 5  # each on its own: none stopped by the breaker
    assert len(llm_server.requests_for(key)) == 5  # and never retried
    with pg_session_factory() as session:
        errors = session.scalars(
            select(Sequence.error).where(Sequence.instruction_set_id == created.set_id)
        ).all()
        assert all("refused the request (HTTP 400)" in (e or "") for e in errors)
        assert not any("consecutive failed LLM calls" in (e or "") for e in errors)


def test_a_continuation_the_endpoint_refuses_leaves_the_answer_cut_off(
    context: LoopContext,
    llm_server: ScriptedLlm,
    key: str,
    pg_session_factory: sessionmaker[Session],
) -> None:
    llm_server.script(
        key,
        [
            answer(CUT_IN_CODE, finish_reason="length"),
            error(400, "continue_final_message is not supported"),
            answer(fenced_python(RIGHT)),
        ],
    )
    sequence_id = run_one_task(context, pg_session_factory, add_task(key), max_continuations=2)

    with pg_session_factory() as session:
        sequence = session.get_one(Sequence, sequence_id)
        assert (sequence.reflection_pass, sequence.final_pass) == (True, True)
        assert sequence.flags["truncated_answer"] == 1
        first = session.scalars(
            select(LlmCall).where(LlmCall.sequence_id == sequence_id).order_by(LlmCall.id)
        ).first()
        assert first is not None and first.error is None
        assert first.response_text == CUT_IN_CODE and first.finish_reason == "length"
        assert "HTTP 400" in first.raw_response["continuation_error"]


def test_a_continuation_that_starts_the_code_over_replaces_the_cut_block(
    context: LoopContext,
    llm_server: ScriptedLlm,
    key: str,
    pg_session_factory: sessionmaker[Session],
) -> None:
    # What small models do when asked to go on: the cut code block again, from its fence.
    llm_server.script(
        key,
        [
            answer(CUT_IN_CODE, finish_reason="length"),
            answer(f"```python\n{RIGHT}\n```\nThis adds the numbers."),
            answer(fenced_python(RIGHT)),
        ],
    )
    sequence_id = run_one_task(context, pg_session_factory, add_task(key))

    with pg_session_factory() as session:
        sequence = session.get_one(Sequence, sequence_id)
        assert (sequence.rounds, sequence.reflection_pass) == (1, True)
        tree = load_sequence_tree(session, sequence_id)
        code = [b.content for b in tree.messages[1].blocks if b.kind == BlockKind.CODE]
        assert code == [RIGHT]


def test_an_answer_cut_off_after_its_code_is_not_continued(
    context: LoopContext,
    llm_server: ScriptedLlm,
    key: str,
    pg_session_factory: sessionmaker[Session],
) -> None:
    llm_server.script(
        key,
        [
            answer(
                fenced_python(RIGHT) + "\n### Explanation\n1. **Add**: the", finish_reason="length"
            ),
            answer(fenced_python(RIGHT)),
        ],
    )
    sequence_id = run_one_task(context, pg_session_factory, add_task(key))

    assert len(llm_server.requests_for(key)) == 2  # the round's answer, then the one-off
    with pg_session_factory() as session:
        sequence = session.get_one(Sequence, sequence_id)
        assert (sequence.rounds, sequence.reflection_pass, sequence.final_pass) == (1, True, True)
        assert "truncated_answer" not in sequence.flags  # only prose that is dropped was cut
