"""An export of a set that is still being generated reads one consistent snapshot."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from reflectseq.db.models import Block, Message, Sequence
from reflectseq.db.session import transaction
from reflectseq.enums import SequenceStatus
from reflectseq.export import stream
from reflectseq.export.filters import ExportFilters
from reflectseq.export.writers import reflection_record
from reflectseq.format import Record
from tests.export.factories import SequenceShape, store_sequence


def test_stream_ignores_writes_made_while_it_reads(
    session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small fetch batches, so the stream is still reading from the database after the writes.
    monkeypatch.setattr(stream, "STREAM_BATCH_ROWS", 3)
    with transaction(session_factory) as session:
        done = [store_sequence(session, SequenceShape(task=f"task {n}")).id for n in range(4)]
        running = store_sequence(
            session, SequenceShape(task="still running", status=SequenceStatus.RUNNING)
        ).id
    with session_factory() as reader:
        records = stream.stream_sequences(reader, ExportFilters())
        first = next(records)
        with transaction(session_factory) as writer:
            # the worker finishes the running sequence and a reviewer edits the last final answer
            writer.execute(
                update(Block)
                .where(
                    Block.message_id.in_(
                        select(Message.id).where(
                            Message.sequence_id == done[-1], Message.index == 3
                        )
                    ),
                    Block.index == 0,
                )
                .values(content="edited after the export started")
            )
            writer.execute(
                update(Sequence)
                .where(Sequence.id == running)
                .values(status=SequenceStatus.COMPLETED)
            )
        rest = list(records)
    exported = [first, *rest]
    assert [sequence.id for sequence in exported] == done
    final_answer = reflection_record(exported[-1]).messages[3].content[0].content
    assert final_answer.startswith("Here is the solution:")
    assert all(isinstance(reflection_record(sequence), Record) for sequence in exported)
