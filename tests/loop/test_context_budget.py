"""Conversations kept inside the model's context: trimmed ahead, retried once, never failed.

Real Postgres, the real sandbox and the scripted endpoint, here with a small context window it
enforces the way llama.cpp's server does (HTTP 400, ``exceed_context_size_error``). The model
writes programs that print a lot, so every round adds a long execution result to the chat.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from reflectseq.db.models import LlmCall, Sequence
from reflectseq.enums import BlockKind, SequenceStatus
from reflectseq.llm.context_window import ContextWindows
from reflectseq.llm.endpoints import load_registry
from reflectseq.settings import Settings
from reflectseq.store.sequences import load_sequence_tree
from tests.loop.conftest import add_task, fenced_python, run_one_task
from tests.loop.llm_server import ScriptedLlm, Window, answer
from workers.loop.machine import LoopContext

TRIMMED = "characters of earlier output trimmed ...]"
RIGHT = "def add(a, b):\n    return a + b"


def noisy(operator: str) -> str:
    """A wrong program that prints a few thousand characters before the tests fail it."""
    return f'def add(a, b):\n    print("step " * 800)\n    return a {operator} b'


# Two noisy failures, then the fix (passing in round 3) and the one-off answer.
THREE_ROUNDS = [
    answer(fenced_python(noisy("-"))),
    answer(fenced_python(noisy("*"), "Subtracting was wrong.")),
    answer(fenced_python(RIGHT, "Multiplying was wrong too.")),
    answer(fenced_python(RIGHT, "Add them.")),
]


@pytest.fixture
def reported_window(llm_server: ScriptedLlm) -> Iterator[ScriptedLlm]:
    """The scripted server reporting ``max_model_len`` for the test's duration."""
    yield llm_server
    llm_server.reported_context_tokens = None


def _calls(factory: sessionmaker[Session], sequence_id: int) -> list[LlmCall]:
    with factory() as session:
        return list(
            session.scalars(
                select(LlmCall).where(LlmCall.sequence_id == sequence_id).order_by(LlmCall.id)
            )
        )


def test_a_known_window_is_kept_by_trimming_earlier_output_first(
    context: LoopContext,
    reported_window: ScriptedLlm,
    key: str,
    pg_session_factory: sessionmaker[Session],
) -> None:
    reported_window.reported_context_tokens = 3000  # vLLM's max_model_len
    reported_window.script(
        key,
        THREE_ROUNDS,
        window=Window(context_tokens=3000, chars_per_token=3.0),
    )
    sequence_id = run_one_task(
        context, pg_session_factory, add_task(key), max_rounds=4, max_tokens=256
    )

    requests = reported_window.requests_for(key)
    assert len(requests) == 4  # nothing refused: every request fitted
    assert all(call.error is None for call in _calls(pg_session_factory, sequence_id))
    third = "\n".join(m["content"] for m in requests[2]["messages"])
    assert TRIMMED in third
    assert "Execution result: failed" in third  # a trimmed result keeps its verdict line
    with pg_session_factory() as session:
        sequence = session.get_one(Sequence, sequence_id)
        assert (sequence.reflection_pass, sequence.final_pass) == (True, True)
        assert sequence.flags["context_trimmed"] >= 1
        tree = load_sequence_tree(session, sequence_id)
        executions = [b for b in tree.messages[1].blocks if b.kind == BlockKind.EXECUTION]
        assert len(executions[0].content) > 3000  # the record keeps everything
        assert TRIMMED not in executions[0].content


def test_a_refusal_as_too_long_teaches_the_window_and_the_trimmed_retry_goes_through(
    context: LoopContext,
    llm_server: ScriptedLlm,
    key: str,
    pg_session_factory: sessionmaker[Session],
) -> None:
    llm_server.script(
        key,
        THREE_ROUNDS,
        window=Window(context_tokens=2500, chars_per_token=3.0),
    )
    sequence_id = run_one_task(
        context, pg_session_factory, add_task(key), max_rounds=4, max_tokens=256
    )

    requests = llm_server.requests_for(key)
    refused, retried = requests[2], requests[3]
    assert TRIMMED not in "\n".join(m["content"] for m in refused["messages"])
    assert TRIMMED in "\n".join(m["content"] for m in retried["messages"])
    calls = _calls(pg_session_factory, sequence_id)
    failed = [call for call in calls if call.error]
    assert len(failed) == 1
    assert "does not fit the model's context of 2500 tokens" in (failed[0].error or "")
    assert failed[0].raw_response["error"]["type"] == "exceed_context_size_error"
    assert context.windows.tokens("default", "scripted") == 2500  # learned
    with pg_session_factory() as session:
        sequence = session.get_one(Sequence, sequence_id)
        assert sequence.status == SequenceStatus.COMPLETED
        assert (sequence.reflection_pass, sequence.final_pass) == (True, True)
        assert sequence.flags["context_trimmed"] >= 1
        assert "context_exhausted" not in sequence.flags


def test_a_context_too_small_for_the_task_ends_the_sequence_flagged_not_failed(
    context: LoopContext,
    llm_server: ScriptedLlm,
    key: str,
    pg_session_factory: sessionmaker[Session],
) -> None:
    llm_server.script(key, [answer(fenced_python(RIGHT))], window=Window(context_tokens=100))
    sequence_id = run_one_task(context, pg_session_factory, add_task(key), max_tokens=64)

    assert len(llm_server.requests_for(key)) == 1  # refused once; nothing fits after that
    with pg_session_factory() as session:
        sequence = session.get_one(Sequence, sequence_id)
        assert sequence.status == SequenceStatus.COMPLETED
        assert (sequence.rounds, sequence.reflection_pass, sequence.final_pass) == (0, False, False)
        assert sequence.flags["context_exhausted"] is True
        assert sequence.error is None


def test_the_window_a_server_reports_is_asked_once_and_kept(
    loop_env: Settings, reported_window: ScriptedLlm
) -> None:
    reported_window.reported_context_tokens = 32768
    windows = ContextWindows(load_registry(loop_env))
    before = reported_window.model_listings

    assert windows.tokens("default", "scripted") == 32768
    assert windows.tokens(None, "scripted") == 32768  # the default endpoint, by name or not
    assert reported_window.model_listings == before + 1
    assert windows.tokens("local", "qwen2.5-coder-0.5b") == loop_env.local_context_tokens
    windows.learn("default", "scripted", 16384)  # a server's refusal beats its listing
    assert windows.tokens("default", "scripted") == 16384
