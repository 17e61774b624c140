"""Every LLM call is accounted, also one whose answer came after its sequence was cancelled."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from reflectseq.db.models import LlmCall, Sequence
from reflectseq.db.session import transaction
from reflectseq.enums import LlmCallStatus, SequenceStatus
from reflectseq.store.loop import cancel_set
from tests.loop.conftest import add_task, create_tasks, fenced_python
from tests.loop.llm_server import ScriptedLlm, answer
from workers.loop.machine import LoopContext, Outcome, run_sequence

RIGHT = "def add(a, b):\n    return a + b"


def test_an_answer_for_a_cancelled_sequence_is_kept_as_abandoned(
    context: LoopContext,
    llm_server: ScriptedLlm,
    key: str,
    pg_session_factory: sessionmaker[Session],
) -> None:
    llm_server.script(key, [answer(fenced_python(RIGHT), delay_s=2, tokens_in=70, tokens_out=30)])
    created = create_tasks(pg_session_factory, [add_task(key)])
    (sequence_id,) = created.sequence_ids
    outcomes: list[Outcome] = []
    runner = threading.Thread(
        target=lambda: outcomes.append(
            run_sequence(context, sequence_id, worker="test", stale_after=timedelta(minutes=5))
        )
    )
    runner.start()
    deadline = time.monotonic() + 60
    while not llm_server.requests_for(key):
        assert time.monotonic() < deadline, "no model call"
        time.sleep(0.05)
    with transaction(pg_session_factory) as session:
        cancel_set(session, created.set_id)
    runner.join(timeout=60)

    assert outcomes == [Outcome.STOPPED]
    with pg_session_factory() as session:
        (call,) = session.scalars(select(LlmCall).where(LlmCall.sequence_id == sequence_id))
        sequence = session.get_one(Sequence, sequence_id)
    assert call.status == LlmCallStatus.ABANDONED
    assert (call.tokens_in, call.tokens_out) == (70, 30)
    assert sequence.status == SequenceStatus.CANCELLED
    assert (sequence.tokens_in, sequence.tokens_out) == (70, 30)
