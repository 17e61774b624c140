"""The store layer on both backends: creation, ordering, and integrity errors as domain errors."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from reflectseq.db.models import Block, GenerationConfig, Instruction, InstructionSet, Sequence
from reflectseq.db.session import transaction
from reflectseq.enums import (
    ApiRole,
    BlockKind,
    ExecutionStatus,
    Role,
    SequenceStage,
    SequenceStatus,
)
from reflectseq.specs import BlockSpec, GenerationConfigSpec, InstructionSpec
from reflectseq.store import Conflict, NotFound
from reflectseq.store.api_keys import create_api_key
from reflectseq.store.instruction_sets import (
    create_instruction_set,
    find_by_idempotency_key,
    get_instruction_set,
)
from reflectseq.store.sequences import (
    append_blocks,
    append_message,
    load_sequence_tree,
    next_block_index,
)
from tests.core.factories import (
    assistant_message_id,
    first_sequence,
    make_set,
    stored_config,
)


def _count(session: Session, model: type) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_set_creation_makes_one_pending_sequence_per_instruction(
    session_factory: sessionmaker[Session],
) -> None:
    with transaction(session_factory) as session:
        created = make_set(session, ["add two numbers", "reverse a string", "fizzbuzz"])
        set_id = created.instruction_set.id

    with session_factory() as session:
        stored = get_instruction_set(session, set_id)
        assert stored.instruction_count == 3
        assert [i.position for i in stored.instructions] == [1, 2, 3]
        sequences = session.scalars(select(Sequence).where(Sequence.instruction_set_id == set_id))
        assert [(s.status, s.stage, s.language) for s in sequences] == [
            (SequenceStatus.PENDING, SequenceStage.REFLECTION, "py")
        ] * 3


def test_duplicate_instructions_in_a_set_are_skipped_and_reported(
    session_factory: sessionmaker[Session],
) -> None:
    with transaction(session_factory) as session:
        created = make_set(session, ["task A", "task B", "task A", " task B "])

    assert [(d.position, d.duplicate_of) for d in created.duplicates] == [(3, 1), (4, 2)]
    assert created.instruction_set.instruction_count == 2
    assert created.instruction_set.duplicate_count == 2


def test_identical_generation_configs_share_one_row(session_factory: sessionmaker[Session]) -> None:
    with transaction(session_factory) as session:
        first = stored_config(session, GenerationConfigSpec(max_rounds=3))
        again = stored_config(session, GenerationConfigSpec(max_rounds=3))
        other = stored_config(session, GenerationConfigSpec(max_rounds=5))
    assert first.id == again.id != other.id
    with session_factory() as session:
        assert _count(session, GenerationConfig) == 2


def test_messages_and_blocks_load_in_order(session_factory: sessionmaker[Session]) -> None:
    with transaction(session_factory) as session:
        sequence = first_sequence(session, make_set(session, ["sum a list"]))
        append_message(
            session, sequence.id, index=0, role=Role.USER, stage=SequenceStage.REFLECTION
        )
        message_id = assistant_message_id(session, sequence)
        append_blocks(
            session,
            message_id,
            [
                BlockSpec(kind=BlockKind.TEXT, content="Let me write it."),
                BlockSpec(kind=BlockKind.CODE, content="print(sum([1, 2]))", language="py"),
                BlockSpec(
                    kind=BlockKind.EXECUTION,
                    content="3",
                    execution_status=ExecutionStatus.PASSED,
                    exit_code=0,
                    stdout="3\n",
                ),
            ],
            start_index=0,
        )
        assert next_block_index(session, message_id) == 3
        sequence_id = sequence.id

    with session_factory() as session:
        tree = load_sequence_tree(session, sequence_id)
        assert [m.role for m in tree.messages] == [Role.USER, Role.ASSISTANT]
        kinds = [b.kind for b in tree.messages[1].blocks]
        assert kinds == [BlockKind.TEXT, BlockKind.CODE, BlockKind.EXECUTION]
        assert tree.messages[1].blocks[2].execution_status == ExecutionStatus.PASSED


def test_duplicate_block_index_is_a_clear_conflict_and_leaves_nothing_behind(
    session_factory: sessionmaker[Session],
) -> None:
    with transaction(session_factory) as session:
        sequence = first_sequence(session, make_set(session, ["sum a list"]))
        message_id = assistant_message_id(session, sequence)
        append_blocks(
            session, message_id, [BlockSpec(kind=BlockKind.TEXT, content="first")], start_index=0
        )

    # A replayed step writes a new block and then one at an index that exists: all or nothing.
    with pytest.raises(Conflict) as raised, transaction(session_factory) as session:
        append_blocks(
            session, message_id, [BlockSpec(kind=BlockKind.TEXT, content="new")], start_index=1
        )
        append_blocks(
            session, message_id, [BlockSpec(kind=BlockKind.TEXT, content="again")], start_index=0
        )
    assert raised.value.constraint == "uq_block_message_id_index"
    assert "a block with this index already exists in the message" in str(raised.value)

    with session_factory() as session:
        contents = session.scalars(
            select(Block.content).where(Block.message_id == message_id).order_by(Block.index)
        ).all()
        assert contents == ["first"]


def test_duplicate_message_index_is_a_conflict(session_factory: sessionmaker[Session]) -> None:
    with transaction(session_factory) as session:
        sequence = first_sequence(session, make_set(session, ["sum a list"]))
        assistant_message_id(session, sequence)
        sequence_id = sequence.id
    with (
        pytest.raises(Conflict, match="message with this index already exists"),
        transaction(session_factory) as session,
    ):
        append_message(
            session, sequence_id, index=1, role=Role.ASSISTANT, stage=SequenceStage.REFLECTION
        )


def test_idempotency_keys_are_unique_per_api_key(session_factory: sessionmaker[Session]) -> None:
    spec = InstructionSpec(text="t", language="py")
    with transaction(session_factory) as session:
        alice = create_api_key(session, name="alice", role=ApiRole.SUBMITTER).row.id
        bob = create_api_key(session, name="bob", role=ApiRole.SUBMITTER).row.id
        config = stored_config(session)
        for name, key_id in (("a", alice), ("bob's own", bob)):
            create_instruction_set(
                session,
                name=name,
                config=config,
                instructions=[(1, spec)],
                idempotency_key="k-1",
                submitted_by_key_id=key_id,
            )
    with pytest.raises(Conflict, match="idempotency"), transaction(session_factory) as session:
        create_instruction_set(
            session,
            name="b",
            config=stored_config(session),
            instructions=[(1, spec)],
            idempotency_key="k-1",
            submitted_by_key_id=alice,
        )
    with session_factory() as session:
        found = find_by_idempotency_key(session, "k-1", submitted_by_key_id=alice)
        assert found is not None and found.name == "a"
        other = find_by_idempotency_key(session, "k-1", submitted_by_key_id=bob)
        assert other is not None and other.name == "bob's own"
        assert find_by_idempotency_key(session, "k-1", submitted_by_key_id=None) is None
        assert _count(session, InstructionSet) == 2


def test_a_failing_submission_stores_nothing(session_factory: sessionmaker[Session]) -> None:
    def instructions():  # type: ignore[no-untyped-def]
        yield 1, InstructionSpec(text="fine", language="py")
        raise ValueError("line 2: bad input")

    with pytest.raises(ValueError, match="line 2"), transaction(session_factory) as session:
        config = stored_config(session)
        create_instruction_set(session, name="broken", config=config, instructions=instructions())
    with session_factory() as session:
        assert _count(session, InstructionSet) == 0
        assert _count(session, Instruction) == 0
        assert _count(session, Sequence) == 0


def test_missing_rows_raise_not_found(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        with pytest.raises(NotFound, match="instruction set 999 not found"):
            get_instruction_set(session, 999)
        with pytest.raises(NotFound, match="sequence 999 not found"):
            load_sequence_tree(session, 999)


def test_dangling_reference_is_a_conflict(session_factory: sessionmaker[Session]) -> None:
    with (
        pytest.raises(Conflict, match="referenced row does not exist"),
        transaction(session_factory) as session,
    ):
        append_message(session, 424242, index=0, role=Role.USER, stage=SequenceStage.REFLECTION)


def test_execution_fields_only_on_execution_blocks() -> None:
    with pytest.raises(ValueError, match="execution blocks, and only they"):
        BlockSpec(kind=BlockKind.TEXT, content="x", execution_status=ExecutionStatus.PASSED)
    with pytest.raises(ValueError, match="execution blocks, and only they"):
        BlockSpec(kind=BlockKind.EXECUTION, content="x")


def test_budgets_beyond_their_column_are_refused_up_front() -> None:
    with pytest.raises(ValueError, match="budget_tokens"):
        GenerationConfigSpec(budget_tokens=2**31)
    assert GenerationConfigSpec(budget_tokens=2**31 - 1).budget_tokens == 2**31 - 1
