"""Small builders for rows the core tests need (real inserts through the store layer)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from reflectseq.db.models import GenerationConfig, Sequence
from reflectseq.enums import Role, SequenceStage
from reflectseq.specs import GenerationConfigSpec, InstructionSpec
from reflectseq.store.instruction_sets import (
    CreatedSet,
    create_instruction_set,
    get_or_create_generation_config,
)
from reflectseq.store.sequences import append_message


def stored_config(session: Session, spec: GenerationConfigSpec | None = None) -> GenerationConfig:
    """A config row as the API stores one resolved to the bundled model's endpoint."""
    spec = spec or GenerationConfigSpec()
    resolved = spec.model_copy(
        update={"endpoint": spec.endpoint or "local", "model": spec.model or "qwen2.5-coder-0.5b"}
    )
    return get_or_create_generation_config(session, resolved, backend="local")


def make_set(session: Session, texts: list[str], *, name: str = "set") -> CreatedSet:
    """A stored set with one Python instruction per text."""
    config = stored_config(session)
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
