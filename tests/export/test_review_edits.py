"""Exports carry reviewers' latest block edits; the block rows keep the generated originals."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from reflectseq.db.base import utcnow
from reflectseq.db.models import Block, Message, Review, Sequence, User
from reflectseq.db.session import transaction
from reflectseq.enums import BlockKind, ExportFormat, ReviewStatus, UserRole
from reflectseq.export import stream
from reflectseq.export.files import write_export
from reflectseq.export.filters import ExportFilters, ReviewFilter
from reflectseq.export.spec import ExportSpec
from reflectseq.export.writers import reflection_record
from reflectseq.format import parse_json_line
from reflectseq.store.reviews import edit_block
from tests.export.factories import ADD_RIGHT, ADD_WRONG, SequenceShape, review, store_sequence

FIXED_WRONG = "def add(a, b):\n    return a - b  # deliberately wrong, to show the failure\n"


def _editor(session: Session) -> int:
    user = User(username="editor", password_hash="x", role=UserRole.REVIEWER)
    session.add(user)
    session.flush()
    return user.id


def _block(session: Session, sequence: Sequence, message: int, index: int) -> Block:
    return session.scalars(
        select(Block)
        .join(Message, Message.id == Block.message_id)
        .where(Message.sequence_id == sequence.id, Message.index == message, Block.index == index)
    ).one()


def _edit(session: Session, sequence: Sequence, block: Block, content: str, editor: int) -> None:
    edit_block(
        session, sequence_id=sequence.id, block_id=block.id, content=content, editor_id=editor
    )


def _export(
    factory: sessionmaker[Session], out: Path, spec: ExportSpec
) -> tuple[list[str], dict[str, Any]]:
    written = write_export(factory, spec, out)
    lines = out.read_text(encoding="utf-8").splitlines()
    return lines, written.manifest


def test_export_takes_the_highest_version_and_keeps_the_original(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    with transaction(session_factory) as session:
        editor = _editor(session)
        edited = store_sequence(session)
        store_sequence(session, SequenceShape(task="Write sub(a, b)."))
        code = _block(session, edited, 1, 1)
        analysis = _block(session, edited, 1, 3)
        _edit(session, edited, code, "first edit", editor)
        _edit(session, edited, code, FIXED_WRONG, editor)
        _edit(session, edited, analysis, "It subtracts instead of adding.", editor)
        code_id = code.id

    lines, manifest = _export(session_factory, tmp_path / "out.jsonl", ExportSpec())

    # Records come in sequence id order: the edited sequence was stored first.
    edited_record, untouched_record = (parse_json_line(line) for line in lines)
    reflection = [block.content for block in edited_record.messages[1].content]
    assert reflection[1] == FIXED_WRONG
    assert reflection[3] == "It subtracts instead of adding."
    assert reflection[4] == ADD_RIGHT  # blocks nobody edited stay as generated
    assert untouched_record.messages[1].content[1].content == ADD_WRONG
    assert manifest["counts"]["edited_blocks"] == 2
    with session_factory() as session:
        original = session.get(Block, code_id)
        assert original is not None
        assert original.content == ADD_WRONG


def test_edits_of_sequences_left_out_are_not_counted(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    with transaction(session_factory) as session:
        editor = _editor(session)
        failed = store_sequence(session, SequenceShape(final_pass=False))
        _edit(session, failed, _block(session, failed, 1, 0), "reworded", editor)
        store_sequence(session, SequenceShape(task="Write sub(a, b)."))

    lines, manifest = _export(
        session_factory,
        tmp_path / "out.jsonl",
        ExportSpec(format=ExportFormat.GENERATION),
    )

    assert len(lines) == 1
    assert manifest["counts"]["records"] == 1
    assert manifest["counts"]["edited_blocks"] == 0


def test_an_edit_saved_during_the_export_is_not_half_seen(
    session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small fetch batches, so the stream is still reading from the database after the edit.
    monkeypatch.setattr(stream, "STREAM_BATCH_ROWS", 3)
    with transaction(session_factory) as session:
        editor = _editor(session)
        sequences = [store_sequence(session, SequenceShape(task=f"task {n}")) for n in range(3)]
        last = sequences[-1]
        block_id = _block(session, last, 1, 1).id
        last_id = last.id
    with session_factory() as reader:
        records = stream.stream_sequences(reader, ExportFilters())
        first = next(records)
        with transaction(session_factory) as writer:
            edit_block(
                writer,
                sequence_id=last_id,
                block_id=block_id,
                content="saved while exporting",
                editor_id=editor,
            )
        rest = list(records)
    exported = [first, *rest]
    assert [sequence.id for sequence in exported] == [s.id for s in sequences]
    assert all(sequence.edited_blocks == 0 for sequence in exported)
    assert reflection_record(exported[-1]).messages[1].content[1].content == ADD_WRONG

    with session_factory() as reader:
        again = list(stream.stream_sequences(reader, ExportFilters()))
    assert again[-1].edited_blocks == 1
    assert reflection_record(again[-1]).messages[1].content[1].content == "saved while exporting"


def test_edited_blocks_keep_their_kind_and_language(
    session_factory: sessionmaker[Session],
) -> None:
    with transaction(session_factory) as session:
        editor = _editor(session)
        sequence = store_sequence(session)
        _edit(session, sequence, _block(session, sequence, 1, 1), FIXED_WRONG, editor)
    with session_factory() as reader:
        (loaded,) = stream.stream_sequences(reader, ExportFilters())
    block = loaded.messages[1].blocks[1]
    assert (block.kind, block.language, block.content) == (BlockKind.CODE, "py", FIXED_WRONG)


def test_accepted_exports_need_an_accept_newer_than_the_latest_edit(
    session_factory: sessionmaker[Session],
) -> None:
    accepted = ExportFilters(review=ReviewFilter.ACCEPTED)
    with transaction(session_factory) as session:
        editor = _editor(session)
        kept, edited = (store_sequence(session, SequenceShape(task=t)) for t in ("add", "sub"))
        for sequence in (kept, edited):
            review(session, sequence, ReviewStatus.ACCEPTED, "alice")
        # Edited after the accept: written around the dashboard, so nothing reopened it.
        edited.edited_at = utcnow() + timedelta(seconds=1)
        kept_id, edited_id = kept.id, edited.id
    with session_factory() as reader:
        chosen = {s.id: s.review for s in stream.stream_sequences(reader, ExportFilters())}
        assert [s.id for s in stream.stream_sequences(reader, accepted)] == [kept_id]
    assert chosen == {kept_id: "accepted", edited_id: "unreviewed"}

    with transaction(session_factory) as session:  # an edit through the store reopens it
        sequence = session.get(Sequence, kept_id)
        assert sequence is not None
        _edit(session, sequence, _block(session, sequence, 1, 0), "reworded", editor)
        # Another reviewer's accept: alice's claim again, which expires if she does not return.
        assert session.scalars(
            select(Review.status).where(Review.sequence_id == kept_id)
        ).one() == (ReviewStatus.PENDING)
    with session_factory() as reader:
        assert list(stream.stream_sequences(reader, accepted)) == []
