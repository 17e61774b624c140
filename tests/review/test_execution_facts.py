"""The execution block shows what ran and how clean the pass was."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from reflectseq.db.models import Block, Message
from reflectseq.db.session import transaction
from reflectseq.enums import BlockKind, ExecutionStatus
from tests.review.conftest import log_in
from tests.review.factories import completed_sequences, user

PROGRAM = "def add(a, b):\n    return a + b\n\nassert add(2, 3) == 5\nprint('end-of-tests')\n"


def _execution_blocks(session: Session, sequence_id: int) -> list[Block]:
    return list(
        session.scalars(
            select(Block)
            .join(Message)
            .where(Message.sequence_id == sequence_id, Block.kind == BlockKind.EXECUTION)
            .order_by(Message.index, Block.index)
        )
    )


def test_passed_with_errors_multipl_e_verdict_and_program_are_shown(
    client: TestClient, db: sessionmaker[Session]
) -> None:
    with transaction(db) as session:
        seq = completed_sequences(session, 1, flags={"passed_with_errors": True})[0].id
        user(session, "rita")
        forged, noisy = _execution_blocks(session, seq)[:2]
        forged.multipl_e_status = ExecutionStatus.PASSED  # status stays failed: exited early
        noisy.passed_with_errors = True
        noisy.multipl_e_status = ExecutionStatus.PASSED
        noisy.program = PROGRAM
    log_in(client, "rita")
    html = client.get(f"/review/sequences/{seq}").text
    assert html.count(">passed with errors<") == 1
    assert html.count(">MultiPL-E<") == 1  # only where the verdicts differ
    assert "Program that ran" in html and "print(&#39;end-of-tests&#39;)" in html
    assert "Passed with errors" in html  # the sequence's quality flag


def test_a_clean_pass_shows_neither_marker(client: TestClient, db: sessionmaker[Session]) -> None:
    with transaction(db) as session:
        seq = completed_sequences(session, 1)[0].id
        user(session, "rita")
    log_in(client, "rita")
    html = client.get(f"/review/sequences/{seq}").text
    assert "passed with errors" not in html.lower() and ">MultiPL-E<" not in html
