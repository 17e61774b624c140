"""Reading sequences and appending their messages and blocks.

The loop commits each step's new blocks in one transaction through these functions; the unique
(sequence, index) and (message, index) constraints turn a replayed step into a ``Conflict``
instead of a duplicated block.
"""

from __future__ import annotations

from collections.abc import Sequence as Seq

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from reflectseq.db.models import Block, Message, Sequence
from reflectseq.enums import Role, SequenceStage
from reflectseq.specs import BlockSpec
from reflectseq.store.errors import NotFound, domain_errors


def get_sequence(session: Session, sequence_id: int) -> Sequence:
    """The sequence with this id, or ``NotFound``."""
    sequence = session.get(Sequence, sequence_id)
    if sequence is None:
        raise NotFound("sequence", sequence_id)
    return sequence


def load_sequence_tree(session: Session, sequence_id: int) -> Sequence:
    """The sequence with its messages and their blocks loaded, in order (three queries)."""
    sequence = session.scalar(
        select(Sequence)
        .where(Sequence.id == sequence_id)
        .options(selectinload(Sequence.messages).selectinload(Message.blocks))
    )
    if sequence is None:
        raise NotFound("sequence", sequence_id)
    return sequence


def append_message(
    session: Session, sequence_id: int, *, index: int, role: Role, stage: SequenceStage
) -> Message:
    """Add message ``index`` to a sequence; ``Conflict`` if that index is taken."""
    message = Message(sequence_id=sequence_id, index=index, role=role, stage=stage)
    with domain_errors():
        session.add(message)
        session.flush()
    return message


def append_blocks(
    session: Session, message_id: int, blocks: Seq[BlockSpec], *, start_index: int
) -> list[Block]:
    """Add blocks numbered from ``start_index``; ``Conflict`` if any index is taken.

    Blocks are written in one flush: either all of them land in the caller's transaction or,
    on a conflict, none of them does once the caller rolls back.
    """
    rows = [
        Block(message_id=message_id, index=start_index + offset, **spec.model_dump())
        for offset, spec in enumerate(blocks)
    ]
    with domain_errors():
        session.add_all(rows)
        session.flush()
    return rows


def next_block_index(session: Session, message_id: int) -> int:
    """The index the next block of a message gets."""
    highest = session.scalar(select(func.max(Block.index)).where(Block.message_id == message_id))
    return 0 if highest is None else highest + 1
