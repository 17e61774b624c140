"""A step's writes as Core statements: column defaults still apply, and no step compiles SQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.engine.default import CACHE_HIT
from sqlalchemy.orm import Session, sessionmaker

from reflectseq.db.models import Block, LlmCall, Message
from reflectseq.enums import BlockKind, LlmCallStatus
from tests.loop.conftest import add_task, create_tasks, fenced_python, run_one_task
from tests.loop.llm_server import ScriptedLlm, answer
from workers.loop.machine import LoopContext, Outcome, run_sequence

STALE = timedelta(minutes=5)
RIGHT = "def add(a, b):\n    return a + b"
STEP_WRITES = {("INSERT", "llm_call"), ("INSERT", "message"), ("INSERT", "block")}
STEP_WRITES |= {("UPDATE", "sequence")}  # the ownership check, with the step's own changes


@contextmanager
def writes_seen(factory: sessionmaker[Session]) -> Iterator[list[tuple[str, str, bool]]]:
    """(verb, table, served from SQLAlchemy's compiled cache) of each INSERT and UPDATE."""
    engine = factory.kw["bind"]
    seen: list[tuple[str, str, bool]] = []

    def record(*args: Any) -> None:
        # before_cursor_execute(conn, cursor, statement, parameters, context, executemany)
        statement, context = args[2], args[4]
        words = statement.split()
        if words[:2] == ["INSERT", "INTO"] or words[0] == "UPDATE":
            table = words[2] if words[0] == "INSERT" else words[1]
            seen.append((words[0], table, context.cache_hit == CACHE_HIT))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_step_writes_get_their_defaults_and_reuse_compiled_statements(
    context: LoopContext,
    llm_server: ScriptedLlm,
    pg_session_factory: sessionmaker[Session],
    key: str,
) -> None:
    llm_server.script(key, [answer(fenced_python(RIGHT)), answer(fenced_python(RIGHT))])
    run_one_task(context, pg_session_factory, add_task(key))  # compiles what a step sends
    (sequence_id,) = create_tasks(pg_session_factory, [add_task(f"{key} again")]).sequence_ids
    with writes_seen(pg_session_factory) as seen:
        outcome = run_sequence(context, sequence_id, worker="test", stale_after=STALE)
    assert outcome == Outcome.COMPLETED

    # Every table a step writes was written, each time by a statement compiled once: compiling
    # a statement per step (a multi-row values() has no cache key) costs a worker more CPU
    # than sending it.
    assert {(verb, table) for verb, table, _ in seen} == STEP_WRITES
    assert all(hit for _, _, hit in seen), seen
    with pg_session_factory() as session:
        calls = session.scalars(select(LlmCall).where(LlmCall.sequence_id == sequence_id)).all()
        blocks = session.scalars(
            select(Block).join(Message).where(Message.sequence_id == sequence_id)
        ).all()
    assert calls and all(call.status == LlmCallStatus.ANSWERED for call in calls)
    assert all(call.created_at is not None for call in calls)
    assert all(block.created_at is not None for block in blocks)
    code = [block for block in blocks if block.kind == BlockKind.CODE]
    assert code and all(block.llm_call_id in {call.id for call in calls} for block in code)
    assert not any(block.truncated or block.passed_with_errors for block in blocks)
