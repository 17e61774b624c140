"""Rows for the read-side tests, written through the store like the loop writes them."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from reflectseq.db.models import Sequence
from reflectseq.db.session import transaction
from reflectseq.enums import BlockKind, ExecutionStatus, Role, SequenceStage, SequenceStatus
from reflectseq.specs import BlockSpec, InstructionSpec
from reflectseq.store.instruction_sets import create_instruction_set
from reflectseq.store.sequences import append_blocks, append_message
from tests.core.factories import stored_config


def seed_set(factory: sessionmaker[Session], *, name: str = "seeded", size: int = 3) -> int:
    """A set of ``size`` Python instructions with pending sequences; its id."""
    with transaction(factory) as session:
        config = stored_config(session)
        created = create_instruction_set(
            session,
            name=name,
            config=config,
            instructions=[
                (i, InstructionSpec(text=f"task {i}", language="py")) for i in range(size)
            ],
        )
        return created.instruction_set.id


def sequence_ids(factory: sessionmaker[Session], set_id: int) -> list[int]:
    """The set's sequence ids in order."""
    with transaction(factory) as session:
        return list(
            session.scalars(
                Sequence.__table__.select()
                .with_only_columns(Sequence.id)
                .where(Sequence.instruction_set_id == set_id)
                .order_by(Sequence.id)
            )
        )


def set_sequence(factory: sessionmaker[Session], sequence_id: int, **values: object) -> None:
    """Overwrite columns of a sequence, as the loop would."""
    with transaction(factory) as session:
        session.execute(update(Sequence).where(Sequence.id == sequence_id).values(**values))


def write_tree(factory: sessionmaker[Session], sequence_id: int, *, blocks: int = 20) -> None:
    """The four messages of a finished sequence, ``blocks`` blocks in all."""
    reflection = max(blocks - 3, 1)
    with transaction(factory) as session:
        plan = [
            (Role.USER, SequenceStage.REFLECTION, [BlockSpec(kind=BlockKind.TEXT, content="Task")]),
            (
                Role.ASSISTANT,
                SequenceStage.REFLECTION,
                [_reflection_block(i) for i in range(reflection)],
            ),
            (Role.USER, SequenceStage.ONE_OFF, [BlockSpec(kind=BlockKind.TEXT, content="Again")]),
            (
                Role.ASSISTANT,
                SequenceStage.ONE_OFF,
                [BlockSpec(kind=BlockKind.TEXT, content="```python\nprint(1)\n```")],
            ),
        ]
        for index, (role, stage, specs) in enumerate(plan):
            message = append_message(session, sequence_id, index=index, role=role, stage=stage)
            append_blocks(session, message.id, specs, start_index=0)


def _reflection_block(index: int) -> BlockSpec:
    """Code, then its execution, then an analysis, repeating."""
    kind = [BlockKind.CODE, BlockKind.EXECUTION, BlockKind.ANALYSIS][index % 3]
    if kind == BlockKind.EXECUTION:
        return BlockSpec(
            kind=kind,
            content="AssertionError",
            execution_status=ExecutionStatus.FAILED,
            exit_code=1,
            stdout="",
            stderr="AssertionError",
            run_duration_s=0.01,
        )
    return BlockSpec(kind=kind, content=f"block {index}", language="py")


def finish(factory: sessionmaker[Session], set_id: int, status: SequenceStatus) -> None:
    """Put every sequence of a set into ``status``."""
    with transaction(factory) as session:
        session.execute(
            update(Sequence).where(Sequence.instruction_set_id == set_id).values(status=status)
        )
