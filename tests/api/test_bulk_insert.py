"""Rows written by the bulk path (COPY on Postgres) equal those the ORM writes on SQLite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from reflectseq.db.models import Instruction, Sequence
from reflectseq.db.session import transaction
from reflectseq.enums import SequenceStage, SequenceStatus
from tests.api.seed import seed_set


def test_bulk_rows_carry_every_default(session_factory: sessionmaker[Session]) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    set_id = seed_set(session_factory, size=3)
    with transaction(session_factory) as session:
        instructions = session.scalars(select(Instruction).order_by(Instruction.id)).all()
        sequences = session.scalars(select(Sequence).order_by(Sequence.id)).all()
        assert [i.position for i in instructions] == [0, 1, 2]
        assert all(i.metadata_ == {} and i.instruction_set_id == set_id for i in instructions)
        assert [s.instruction_id for s in sequences] == [i.id for i in instructions]
        for sequence in sequences:
            assert sequence.status == SequenceStatus.PENDING
            assert sequence.stage == SequenceStage.REFLECTION
            assert (sequence.rounds, sequence.attempt, sequence.sample_index) == (0, 0, 0)
            assert (sequence.tokens_in, sequence.tokens_out, sequence.cost) == (0, 0, 0.0)
            assert sequence.flags == {}
            assert sequence.created_at >= before
            assert sequence.updated_at >= before
            assert sequence.final_pass is None
