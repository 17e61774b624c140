"""``/v1/sequences``: filtered, cursor-paginated listing and one sequence with its blocks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Response
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from api.auth import Reviewer
from api.deps import DocumentReadsDep, SessionFactory
from api.document_cache import etag_matches
from api.errors import AUTH_RESPONSES, NOT_FOUND_RESPONSE, ApiError
from api.pagination import DEFAULT_LIMIT, MAX_ID, MAX_LIMIT, decode_cursor, encode_cursor
from api.schemas import (
    ErrorDetail,
    SequenceDetailOut,
    SequenceOut,
    SequencePage,
)
from reflectseq.db.session import transaction
from reflectseq.enums import ReviewStatus, SequenceStatus
from reflectseq.specs import MAX_INT32
from reflectseq.store.document_versions import document_version
from reflectseq.store.errors import NotFound
from reflectseq.store.queries import SequenceFilter, list_sequences, sequence_document_json

router = APIRouter(prefix="/v1/sequences", tags=["sequences"])

MAX_ROUNDS_FILTER = MAX_INT32  # the rounds column is a 32-bit integer


def _utc(value: datetime | None, field: str) -> datetime | None:
    """Naive datetimes are read as UTC; values that cannot be expressed in UTC are refused."""
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError as error:
        raise ApiError(
            422, "the date is out of range", details=[ErrorDetail(field=field, message=str(error))]
        ) from error


@router.get("", response_model=SequencePage, responses=AUTH_RESPONSES, summary="List sequences")
def list_sequences_route(
    *,
    _: Reviewer,
    factory: SessionFactory,
    instruction_set_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    status: SequenceStatus | None = None,
    language: Annotated[str | None, Query(max_length=16, pattern=r"^[a-z][a-z0-9_+-]*$")] = None,
    final_pass: bool | None = None,
    review_status: ReviewStatus | None = None,
    min_rounds: Annotated[int | None, Query(ge=0, le=MAX_ROUNDS_FILTER)] = None,
    max_rounds: Annotated[int | None, Query(ge=0, le=MAX_ROUNDS_FILTER)] = None,
    created_after: Annotated[
        datetime | None, Query(description="Created at or after; UTC if no zone.")
    ] = None,
    created_before: Annotated[
        datetime | None, Query(description="Created before; UTC if no zone.")
    ] = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> SequencePage:
    """Sequences by ascending id matching every given filter; follow `next_cursor` for more.

    `review_status=pending` matches sequences nobody has judged yet.
    """
    filters = SequenceFilter(
        instruction_set_id=instruction_set_id,
        status=status,
        language=language,
        final_pass=final_pass,
        review_status=review_status,
        min_rounds=min_rounds,
        max_rounds=max_rounds,
        created_after=_utc(created_after, "created_after"),
        created_before=_utc(created_before, "created_before"),
    )
    with transaction(factory) as session:
        rows, last_id = list_sequences(
            session, filters, after_id=decode_cursor(cursor), limit=limit
        )
        return SequencePage(
            items=[SequenceOut.model_validate(row) for row in rows],
            next_cursor=encode_cursor(last_id),
        )


def _document(connection: Connection, sequence_id: int) -> bytes | None:
    with Session(bind=connection) as session:
        return sequence_document_json(session, sequence_id)


@router.get(
    "/{sequence_id}",
    response_model=SequenceDetailOut,
    responses={
        **AUTH_RESPONSES,
        **NOT_FOUND_RESPONSE,
        304: {"description": "The finished sequence is unchanged since the ETag given."},
    },
    summary="Get a sequence with its messages and blocks",
)
def get_sequence_route(
    sequence_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    _: Reviewer,
    reads: DocumentReadsDep,
    if_none_match: Annotated[str | None, Header(max_length=1000)] = None,
) -> Response:
    """The instruction, then every message and its blocks in order.

    A finished sequence carries an `ETag`; send it back as `If-None-Match` to get 304 while the
    sequence is unchanged (review edits and stored flags change it).
    """
    cache = reads.cache
    with reads.engine.connect() as connection:
        version = document_version(connection, sequence_id)
        if version is None:
            raise NotFound("sequence", sequence_id)
        etag = version.etag
        if etag is None:
            document = _document(connection, sequence_id)
        elif etag_matches(if_none_match, etag):
            return Response(status_code=304, headers={"ETag": etag})
        else:
            document = cache.get(etag)
            if document is None:
                # Built after the version was read, so a body is never older than its key.
                document = _document(connection, sequence_id)
                if document is not None:
                    cache.put(etag, document)
    if document is None:
        raise NotFound("sequence", sequence_id)
    headers = {} if etag is None else {"ETag": etag, "Cache-Control": "no-cache"}
    # Sent as the store produced it: validating 20+ blocks through the response model on every
    # request would cost more than the query (the OpenAPI tests check the shape).
    return Response(document, media_type="application/json", headers=headers)
