"""Builders of stored, completed sequences shaped like the loop writes them (real inserts)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from reflectseq.db.models import Sequence, User
from reflectseq.enums import (
    BlockKind,
    ExecutionStatus,
    Role,
    SequenceStage,
    SequenceStatus,
    UserRole,
)
from reflectseq.specs import BlockSpec, InstructionSpec
from reflectseq.store.claims import ClaimRules
from reflectseq.store.instruction_sets import create_instruction_set
from reflectseq.store.sequences import append_blocks, append_message
from reflectseq.store.users import create_user
from tests.core.factories import stored_config

PASSWORD = "correct horse battery"
# Claim rules for one, two and three reviewers per sequence, claims held for an hour.
SOLO, PAIR, TRIO = (ClaimRules(overlap=n, ttl=timedelta(hours=1)) for n in (1, 2, 3))
TESTS = "assert add(2, 3) == 5\nassert add(-1, 1) == 0"
WRONG = "def add(a, b):\n    return a - b\n"
RIGHT = "def add(a, b):\n    return a + b\n"
# Trojan Source: the comparison looks closed before the comment, but the string holds it all.
TROJAN = (
    'def add(a, b):\n    if a != "b\u202e \u2066# check a\u2069 \u2066":\n        return a + b\n'
)


@dataclass(frozen=True)
class Attempt:
    """One stage-1 round: the code the model wrote and how its execution went."""

    code: str
    status: ExecutionStatus
    stdout: str = ""
    stderr: str = ""


FAILING_THEN_PASSING = (
    Attempt(WRONG, ExecutionStatus.FAILED, stderr="AssertionError: assert add(2, 3) == 5"),
    Attempt(RIGHT, ExecutionStatus.PASSED),
)


def user(session: Session, name: str, role: UserRole = UserRole.REVIEWER) -> User:
    return create_user(session, username=name, password=PASSWORD, role=role)


def _execution(attempt: Attempt, *, truncated: bool = False) -> BlockSpec:
    passed = attempt.status == ExecutionStatus.PASSED
    return BlockSpec(
        kind=BlockKind.EXECUTION,
        content=f"status: {attempt.status.value}\n{attempt.stderr or attempt.stdout}",
        execution_status=attempt.status,
        exit_code=0 if passed else 1,
        stdout=attempt.stdout,
        stderr=attempt.stderr,
        run_duration_s=0.042,
        truncated=truncated,
    )


def completed_sequences(
    session: Session,
    count: int,
    *,
    attempts: tuple[Attempt, ...] = FAILING_THEN_PASSING,
    language: str = "py",
    set_name: str = "set",
    text: str = "Write add(a, b) returning the sum of a and b",
    flags: dict[str, object] | None = None,
    truncated: bool = False,
) -> list[Sequence]:
    """``count`` completed sequences: user turn, reflection rounds, one-off answer, verification."""
    config = stored_config(session)
    created = create_instruction_set(
        session,
        name=set_name,
        config=config,
        instructions=[
            (i, InstructionSpec(text=f"{text} (#{i})", language=language, tests=TESTS))
            for i in range(count)
        ],
    )
    session.flush()
    sequences = (
        session.query(Sequence)
        .filter_by(instruction_set_id=created.instruction_set.id)
        .order_by(Sequence.id)
        .all()
    )
    for sequence in sequences:
        _fill(session, sequence, attempts, truncated=truncated)
        sequence.flags = dict(flags or {})
    session.flush()
    return sequences


def _fill(
    session: Session, sequence: Sequence, attempts: tuple[Attempt, ...], *, truncated: bool
) -> None:
    prompt = append_message(
        session, sequence.id, index=0, role=Role.USER, stage=SequenceStage.REFLECTION
    )
    append_blocks(
        session,
        prompt.id,
        [BlockSpec(kind=BlockKind.TEXT, content=f"Task: add two numbers.\n\n{TESTS}")],
        start_index=0,
    )
    reflection = append_message(
        session, sequence.id, index=1, role=Role.ASSISTANT, stage=SequenceStage.REFLECTION
    )
    specs: list[BlockSpec] = []
    for round_number, attempt in enumerate(attempts):
        if round_number:
            specs.append(
                BlockSpec(
                    kind=BlockKind.ANALYSIS,
                    content="The assertion fails: the function subtracts instead of adding.",
                )
            )
        specs.append(BlockSpec(kind=BlockKind.TEXT, content=f"Attempt {round_number + 1}."))
        specs.append(BlockSpec(kind=BlockKind.CODE, content=attempt.code, language="py"))
        specs.append(_execution(attempt, truncated=truncated))
    append_blocks(session, reflection.id, specs, start_index=0)
    one_off = append_message(
        session, sequence.id, index=2, role=Role.USER, stage=SequenceStage.ONE_OFF
    )
    append_blocks(
        session,
        one_off.id,
        [BlockSpec(kind=BlockKind.TEXT, content="Now answer in one go: add two numbers.")],
        start_index=0,
    )
    answer = append_message(
        session, sequence.id, index=3, role=Role.ASSISTANT, stage=SequenceStage.ONE_OFF
    )
    final = attempts[-1]
    append_blocks(
        session,
        answer.id,
        [
            BlockSpec(kind=BlockKind.TEXT, content=f"Here it is:\n\n```python\n{final.code}```"),
            _execution(final),
        ],
        start_index=0,
    )
    sequence.status = SequenceStatus.COMPLETED
    sequence.stage = SequenceStage.DONE
    sequence.rounds = len(attempts)
    sequence.reflection_pass = final.status == ExecutionStatus.PASSED
    sequence.final_pass = final.status == ExecutionStatus.PASSED
