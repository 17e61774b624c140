"""What the loop stores about a run: the code as written, the program that ran, both verdicts."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from reflectseq.db.models import Block
from reflectseq.enums import BlockKind, ExecutionStatus
from reflectseq.store.sequences import load_sequence_tree
from tests.loop.conftest import ADD_TESTS, add_task, create_tasks, fenced_python
from tests.loop.llm_server import ScriptedLlm, answer
from workers.loop.machine import LoopContext, Outcome, run_sequence

STALE = timedelta(minutes=5)
# A right answer with the driver models add: a check of its own, run at import, that is wrong.
WITH_DRIVER = (
    "def add(a, b):\n    return a + b\n\n\n"
    "def check(candidate):\n    assert candidate(1, 1) == 3\n\n\ncheck(add)\n\n"
    'if __name__ == "__main__":\n    print(add(2, 3))'
)
# A wrong answer that exits with status 0 before the tests can fail it.
FORGED = "import os\n\n\ndef add(a, b):\n    os._exit(0)"


def _executions(
    factory: sessionmaker[Session], sequence_id: int
) -> tuple[list[Block], list[Block]]:
    with factory() as session:
        tree = load_sequence_tree(session, sequence_id)
        reflection = tree.messages[1].blocks
        return (
            [b for b in reflection if b.kind == BlockKind.CODE],
            [b for b in reflection if b.kind == BlockKind.EXECUTION],
        )


def test_the_models_driver_is_stored_but_not_run(
    context: LoopContext,
    llm_server: ScriptedLlm,
    key: str,
    pg_session_factory: sessionmaker[Session],
) -> None:
    llm_server.script(key, [answer(fenced_python(WITH_DRIVER)), answer(fenced_python(WITH_DRIVER))])
    created = create_tasks(pg_session_factory, [add_task(key)])
    (sequence_id,) = created.sequence_ids

    assert run_sequence(context, sequence_id, worker="test", stale_after=STALE) == Outcome.COMPLETED

    (code,), (execution,) = _executions(pg_session_factory, sequence_id)
    assert code.content == WITH_DRIVER
    assert execution.execution_status == ExecutionStatus.PASSED
    assert execution.multipl_e_status == ExecutionStatus.PASSED
    assert not execution.passed_with_errors
    assert execution.program is not None
    assert "check(add)\n" not in execution.program and "__main__" not in execution.program
    assert execution.program.index("return a + b") < execution.program.index(ADD_TESTS)
    assert "reflectseq_end_" not in (execution.stdout or "")


def test_a_forged_exit_is_stored_as_failed_with_multipl_e_saying_passed(
    context: LoopContext,
    llm_server: ScriptedLlm,
    key: str,
    pg_session_factory: sessionmaker[Session],
) -> None:
    llm_server.script(key, [answer(fenced_python(FORGED))])
    created = create_tasks(pg_session_factory, [add_task(key)], max_rounds=1)
    (sequence_id,) = created.sequence_ids

    assert run_sequence(context, sequence_id, worker="test", stale_after=STALE) == Outcome.COMPLETED

    _, (execution,) = _executions(pg_session_factory, sequence_id)
    assert execution.execution_status == ExecutionStatus.FAILED
    assert execution.multipl_e_status == ExecutionStatus.PASSED
    assert execution.exit_code == 0
