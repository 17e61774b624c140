"""The sequence document the API serves matches the stored rows on Postgres and on SQLite."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from api.schemas import SequenceDetailOut
from reflectseq.db.session import transaction
from reflectseq.enums import SequenceStatus
from reflectseq.store.queries import sequence_document_json
from reflectseq.store.sequences import load_sequence_tree
from tests.api.seed import seed_set, sequence_ids, set_sequence, write_tree


def test_document_matches_the_rows(session_factory: sessionmaker[Session]) -> None:
    set_id = seed_set(session_factory, size=2)
    sequence_id, empty_id = sequence_ids(session_factory, set_id)
    write_tree(session_factory, sequence_id, blocks=12)
    set_sequence(
        session_factory, sequence_id, status=SequenceStatus.COMPLETED, cost=0.125, flags={"x": 1}
    )
    with transaction(session_factory) as session:
        raw = sequence_document_json(session, sequence_id)
        empty = sequence_document_json(session, empty_id)
        missing = sequence_document_json(session, 10**9)
        tree = load_sequence_tree(session, sequence_id)
        served = SequenceDetailOut.model_validate_json(raw or b"")
        expected = {
            "status": tree.status,
            "cost": tree.cost,
            "flags": tree.flags,
            "created_at": tree.created_at,
            "instruction": tree.instruction.text,
            "blocks": [
                [(b.index, b.kind, b.content, b.execution_status) for b in m.blocks]
                for m in tree.messages
            ],
        }
    assert missing is None
    assert SequenceDetailOut.model_validate_json(empty or b"").messages == []
    assert served.status == expected["status"]
    assert served.cost == expected["cost"]
    assert served.flags == expected["flags"]
    assert served.created_at == expected["created_at"]
    assert served.instruction.text == expected["instruction"]
    assert [
        [(b.index, b.kind, b.content, b.execution_status) for b in m.blocks]
        for m in served.messages
    ] == expected["blocks"]
