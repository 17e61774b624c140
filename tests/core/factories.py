"""Small builders for rows the core tests need (real inserts through the store layer)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from reflectseq.db.models import Sequence
from reflectseq.enums import Role, SequenceStage
from reflectseq.specs import GenerationConfigSpec, InstructionSpec
from reflectseq.store.instruction_sets import (
    CreatedSet,
    create_instruction_set,
    get_or_create_generation_config,
)
from reflectseq.store.sequences import append_message


def make_set(session: Session, texts: list[str], *, name: str = "set") -> CreatedSet:
    """A stored set with one Python instruction per text."""
    config = get_or_create_generation_config(session, GenerationConfigSpec())
    return create_instruction_set(
        session,
        name=name,
        config=config,
        instructions=[
            (position, InstructionSpec(text=text, language="py"))
            for position, text in enumerate(texts, start=1)
        ],
    )


def first_sequence(session: Session, created: CreatedSet) -> Sequence:
    """The sequence of the set's first instruction."""
    instruction = created.instruction_set.instructions[0]
    sequence = session.query(Sequence).filter_by(instruction_id=instruction.id).one()
    return sequence


def assistant_message_id(session: Session, sequence: Sequence) -> int:
    """Add the reflection-sequence message (index 1) to a sequence and return its id."""
    return append_message(
        session, sequence.id, index=1, role=Role.ASSISTANT, stage=SequenceStage.REFLECTION
    ).id
