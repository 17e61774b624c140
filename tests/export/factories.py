"""Stored sequences laid out the way the generation loop stores them, for the export tests.

Rows go through the store layer (``create_instruction_set``, ``append_message``,
``append_blocks``) on the real database, exactly as the loop writes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from reflectseq.db.base import utcnow
from reflectseq.db.models import Review, Sequence, User
from reflectseq.enums import (
    BlockKind,
    ExecutionStatus,
    ReviewStatus,
    Role,
    SequenceStage,
    SequenceStatus,
    UserRole,
)
from reflectseq.format import fenced
from reflectseq.specs import BlockSpec, GenerationConfigSpec, InstructionSpec
from reflectseq.store.instruction_sets import create_instruction_set
from reflectseq.store.sequences import append_blocks, append_message
from tests.core.factories import stored_config

ADD_TASK = "Write a Python function add(a, b) that returns the sum of a and b."
ADD_WRONG = "def add(a, b):\n    return a - b\n\nassert add(1, 2) == 3\n"
ADD_RIGHT = "def add(a, b):\n    return a + b\n\nassert add(1, 2) == 3\n"
ADD_FINAL = "def add(a, b):\n    return a + b\n"
REFLECTION_PROMPT = "Test your code with asserts and fix it until it passes."


def execution(content: str, status: ExecutionStatus = ExecutionStatus.PASSED) -> BlockSpec:
    """An execution block as the loop stores it (``content`` is the feedback text)."""
    return BlockSpec(
        kind=BlockKind.EXECUTION,
        content=content,
        execution_status=status,
        exit_code=0 if status is ExecutionStatus.PASSED else 1,
        stdout="",
        stderr="" if status is ExecutionStatus.PASSED else content,
        run_duration_s=0.01,
    )


def reflection_blocks(language: str = "py") -> list[BlockSpec]:
    """A two-round reflection: wrong code, its failure, an analysis, the fix and its pass."""
    return [
        BlockSpec(kind=BlockKind.TEXT, content="I will subtract... no, add the numbers."),
        BlockSpec(kind=BlockKind.CODE, content=ADD_WRONG, language=language),
        execution("AssertionError: add(1, 2) returned -1", ExecutionStatus.FAILED),
        BlockSpec(kind=BlockKind.ANALYSIS, content="The function subtracts; it must add."),
        BlockSpec(kind=BlockKind.CODE, content=ADD_RIGHT, language=language),
        execution("All tests passed."),
    ]


@dataclass
class SequenceShape:
    """What to store for one sequence (defaults: a completed, passing two-round sequence)."""

    task: str = ADD_TASK
    language: str = "py"
    tests: str | None = None
    model: str = "scripted-model"
    prompt_version: str = "v1"
    status: SequenceStatus = SequenceStatus.COMPLETED
    final_pass: bool | None = True
    rounds: int = 2
    reflection: list[BlockSpec] | None = None
    final_code: str = ADD_FINAL
    messages: int = 4
    flags: dict[str, Any] = field(default_factory=dict)


def store_sequence(session: Session, shape: SequenceShape | None = None) -> Sequence:
    """Store one instruction in its own set and its sequence with the loop's message layout."""
    shape = shape or SequenceShape()
    config = stored_config(
        session, GenerationConfigSpec(model=shape.model, prompt_version=shape.prompt_version)
    )
    created = create_instruction_set(
        session,
        name="export-test",
        config=config,
        instructions=[
            (1, InstructionSpec(text=shape.task, language=shape.language, tests=shape.tests))
        ],
    )
    sequence = session.scalars(
        select(Sequence).where(Sequence.instruction_set_id == created.instruction_set.id)
    ).one()
    layout = [
        (
            Role.USER,
            SequenceStage.REFLECTION,
            [
                BlockSpec(
                    kind=BlockKind.TEXT,
                    content=f"{shape.task}\n{REFLECTION_PROMPT}",
                )
            ],
        ),
        (
            Role.ASSISTANT,
            SequenceStage.REFLECTION,
            shape.reflection or reflection_blocks(shape.language),
        ),
        (
            Role.USER,
            SequenceStage.ONE_OFF,
            [
                BlockSpec(
                    kind=BlockKind.TEXT,
                    content=f"{shape.task}\nAnswer with the complete code in one block.",
                )
            ],
        ),
        (
            Role.ASSISTANT,
            SequenceStage.ONE_OFF,
            [
                BlockSpec(
                    kind=BlockKind.TEXT,
                    content="Here is the solution:\n" + fenced(shape.final_code, "python"),
                ),
                execution(
                    "All tests passed." if shape.final_pass else "AssertionError",
                    ExecutionStatus.PASSED if shape.final_pass else ExecutionStatus.FAILED,
                ),
            ],
        ),
    ]
    for index, (role, stage, blocks) in enumerate(layout[: shape.messages]):
        message = append_message(session, sequence.id, index=index, role=role, stage=stage)
        append_blocks(session, message.id, blocks, start_index=0)
    sequence.status = shape.status
    sequence.final_pass = shape.final_pass
    sequence.rounds = shape.rounds
    sequence.flags = shape.flags
    session.flush()
    return sequence


def review(session: Session, sequence: Sequence, status: ReviewStatus, reviewer: str) -> None:
    """Record one reviewer's verdict on a sequence."""
    user = session.scalars(select(User).where(User.username == reviewer)).one_or_none()
    if user is None:
        user = User(username=reviewer, password_hash="x", role=UserRole.REVIEWER)
        session.add(user)
        session.flush()
    decided = status in (ReviewStatus.ACCEPTED, ReviewStatus.REJECTED)
    session.add(
        Review(
            sequence_id=sequence.id,
            reviewer_id=user.id,
            status=status,
            decided_at=utcnow() if decided else None,  # as the dashboard's decide() sets it
        )
    )
    session.flush()
