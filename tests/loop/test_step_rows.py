"""A step's rows as Core INSERTs: column defaults still apply, and the statements stay cached."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.engine.default import CACHE_HIT
from sqlalchemy.orm import Session, sessionmaker

from reflectseq.db.models import Block, LlmCall, Message
from reflectseq.enums import BlockKind, LlmCallStatus
from tests.loop.conftest import add_task, fenced_python, run_one_task
from tests.loop.llm_server import ScriptedLlm, answer
from workers.loop.machine import LoopContext

RIGHT = "def add(a, b):\n    return a + b"
STEP_TABLES = ("llm_call", "message", "block")


@contextmanager
def inserts_seen(factory: sessionmaker[Session]) -> Iterator[list[tuple[str, bool]]]:
    """(table, served from SQLAlchemy's compiled cache) of each INSERT into a step's tables."""
    engine = factory.kw["bind"]
    seen: list[tuple[str, bool]] = []

    def record(*args: Any) -> None:
        # before_cursor_execute(conn, cursor, statement, parameters, context, executemany)
        statement, context = args[2], args[4]
        words = statement.split()
        if words[:2] == ["INSERT", "INTO"] and words[2] in STEP_TABLES:
            seen.append((words[2], context.cache_hit == CACHE_HIT))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_step_rows_get_their_defaults_and_reuse_compiled_inserts(
    context: LoopContext,
    llm_server: ScriptedLlm,
    pg_session_factory: sessionmaker[Session],
    key: str,
) -> None:
    llm_server.script(key, [answer(fenced_python(RIGHT)), answer(fenced_python(RIGHT))])
    run_one_task(context, pg_session_factory, add_task(key))  # compiles what a step sends
    with inserts_seen(pg_session_factory) as seen:
        sequence_id = run_one_task(context, pg_session_factory, add_task(f"{key} again"))

    # Every table a step writes was written, each time by a statement compiled once: a
    # statement compiled per step (a multi-row values() has no cache key) costs a worker
    # more CPU than the INSERT itself.
    assert {table for table, _ in seen} == set(STEP_TABLES)
    assert all(hit for _, hit in seen), seen
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
