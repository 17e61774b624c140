"""A finished sequence is served with an ETag and from the document cache until something changes.

Review edits bump the document version in the transaction that stores them; writes to the
sequence row (flags, the loop) change ``updated_at``; both must give a new ETag and a fresh body.
"""

from __future__ import annotations

from contextlib import ExitStack

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from api.document_cache import DocumentCache, etag_matches
from reflectseq.db.base import utcnow
from reflectseq.db.models import Block, Message
from reflectseq.db.session import read_engine_for, transaction
from reflectseq.enums import BlockKind, SequenceStatus
from reflectseq.store.document_versions import document_version
from reflectseq.store.reviews import edit_block
from tests.api.seed import seed_set, sequence_ids, set_sequence, write_tree
from tests.review.factories import user


def _finished_sequence(factory: sessionmaker[Session]) -> int:
    set_id = seed_set(factory, size=1)
    (sequence_id,) = sequence_ids(factory, set_id)
    write_tree(factory, sequence_id, blocks=6)
    set_sequence(factory, sequence_id, status=SequenceStatus.COMPLETED, updated_at=utcnow())
    return sequence_id


def test_a_finished_sequence_revalidates_to_304_until_a_review_edit(
    client: TestClient, reviewer: dict[str, str], pg_session_factory: sessionmaker[Session]
) -> None:
    sequence_id = _finished_sequence(pg_session_factory)
    url = f"/v1/sequences/{sequence_id}"
    first = client.get(url, headers=reviewer)
    etag = first.headers["ETag"]
    assert first.status_code == 200 and first.headers["Cache-Control"] == "no-cache"
    again = client.get(url, headers=reviewer)  # from the cache this time
    assert (again.content, again.headers["ETag"]) == (first.content, etag)
    revalidated = client.get(url, headers={**reviewer, "If-None-Match": f'W/{etag}, "other"'})
    assert (revalidated.status_code, revalidated.content) == (304, b"")
    assert revalidated.headers["ETag"] == etag

    with transaction(pg_session_factory) as session:
        editor = user(session, "editor").id
        block = session.scalar(
            select(Block)
            .join(Message)
            .where(Message.sequence_id == sequence_id, Block.kind == BlockKind.CODE)
        )
        assert block is not None
        edit_block(
            session, sequence_id=sequence_id, block_id=block.id, content="x = 2", editor_id=editor
        )
    after_edit = client.get(url, headers={**reviewer, "If-None-Match": etag})
    assert after_edit.status_code == 200 and after_edit.headers["ETag"] != etag

    set_sequence(pg_session_factory, sequence_id, flags={"no_asserts": True}, updated_at=utcnow())
    after_flags = client.get(url, headers={**reviewer, "If-None-Match": after_edit.headers["ETag"]})
    assert after_flags.status_code == 200
    assert after_flags.json()["flags"] == {"no_asserts": True}


def test_a_running_sequence_has_no_etag_and_is_never_cached(
    client: TestClient, reviewer: dict[str, str], pg_session_factory: sessionmaker[Session]
) -> None:
    set_id = seed_set(pg_session_factory, size=1)
    (sequence_id,) = sequence_ids(pg_session_factory, set_id)
    set_sequence(pg_session_factory, sequence_id, status=SequenceStatus.RUNNING)
    url = f"/v1/sequences/{sequence_id}"
    empty = client.get(url, headers={**reviewer, "If-None-Match": "*"})
    assert empty.status_code == 200 and "ETag" not in empty.headers
    write_tree(pg_session_factory, sequence_id, blocks=4)  # blocks appended, row untouched
    grown = client.get(url, headers=reviewer).json()
    assert sum(len(message["blocks"]) for message in grown["messages"]) == 4


def test_the_cache_keeps_the_most_recently_used_documents_within_its_bytes() -> None:
    cache = DocumentCache(max_bytes=10)
    cache.put('"a"', b"1234")
    cache.put('"b"', b"5678")
    assert cache.get('"a"') == b"1234"  # now the most recent
    cache.put('"c"', b"90ab")
    assert (cache.get('"a"'), cache.get('"b"'), cache.get('"c"')) == (b"1234", None, b"90ab")
    cache.put('"huge"', b"x" * 11)
    assert cache.get('"huge"') is None
    assert DocumentCache(max_bytes=0).get('"a"') is None


def test_if_none_match_lists_and_wildcards() -> None:
    assert etag_matches('"x", W/"y"', '"y"')
    assert etag_matches("*", '"y"')
    assert not etag_matches(None, '"y"')
    assert not etag_matches('"yy"', '"y"')


def test_the_prepared_lookup_reads_the_version_the_orm_reads(
    pg_url: str, pg_session_factory: sessionmaker[Session]
) -> None:
    sequence_id = _finished_sequence(pg_session_factory)
    with pg_session_factory() as session:
        through_orm = document_version(session, sequence_id)
    with read_engine_for(pg_url).connect() as connection:
        prepared = document_version(connection, sequence_id)
        assert document_version(connection, sequence_id + 1000) is None
    assert prepared is not None and through_orm is not None
    assert prepared.etag == through_orm.etag is not None


def test_a_dropped_connection_fails_one_lookup_and_the_pool_is_renewed(
    pg_url: str, pg_session_factory: sessionmaker[Session]
) -> None:
    sequence_id = _finished_sequence(pg_session_factory)
    engine = read_engine_for(pg_url)
    with ExitStack() as held:  # three connections in the pool, as a busy API keeps them
        connections = [held.enter_context(engine.connect()) for _ in range(3)]
        backends = [c.connection.driver_connection.info.backend_pid for c in connections]  # type: ignore[union-attr]
    with pg_session_factory() as session:  # as a Postgres restart or failover would
        for pid in backends:
            session.execute(select(func.pg_terminate_backend(pid)))
    failures = 0
    for _ in range(3):
        try:
            with engine.connect() as connection:
                assert document_version(connection, sequence_id) is not None
        except DBAPIError as error:
            assert error.connection_invalidated
            failures += 1
    assert failures <= 1
