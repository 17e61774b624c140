"""``/v1/instruction-sets``: submit (JSON, JSONL or upload), list, inspect, cancel, retry."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import asdict
from functools import partial
from pathlib import PurePath
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, BackgroundTasks, Header, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.datastructures import UploadFile

from api.auth import Principal, Reviewer, Submitter
from api.deps import AppSettings, Endpoints, SessionFactory
from api.errors import (
    AUTH_RESPONSES,
    CONFLICT_RESPONSE,
    MALFORMED_BODY_RESPONSE,
    NOT_FOUND_RESPONSE,
    TOO_LARGE_RESPONSE,
    ApiError,
    details_from_pydantic,
)
from api.ingest import (
    HashingChunks,
    Submission,
    check_header,
    pull_from_async,
    pull_from_file,
    store_submission,
)
from api.pagination import DEFAULT_LIMIT, MAX_ID, MAX_LIMIT, decode_cursor, encode_cursor
from api.schemas import (
    ActionOut,
    ErrorDetail,
    InstructionSetOut,
    InstructionSetPage,
    InstructionSetSubmission,
    ProgressOut,
    SubmissionHeader,
    SubmissionOut,
)
from api.views import duplicates_out, instruction_set_out, instruction_sets_out, progress_out
from reflectseq.db.session import transaction
from reflectseq.ingest.mapping import FieldMapping, MappingError
from reflectseq.ingest.records import MEDIA_TYPES, InputFormat, format_of_path
from reflectseq.settings import Settings
from reflectseq.specs import GenerationConfigSpec, InstructionSpec
from reflectseq.store.api_keys import api_key_active
from reflectseq.store.instruction_sets import get_instruction_set
from reflectseq.store.queries import list_instruction_sets, set_progress
from workers import dispatch

router = APIRouter(prefix="/v1/instruction-sets", tags=["instruction sets"])

SetId = Annotated[int, Path(ge=1, le=MAX_ID, description="Instruction set id.")]
SCHEMA_REF = "#/components/schemas/{model}"

# The body is read by hand (streamed), so its accepted forms are described here.
SUBMISSION_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"$ref": SCHEMA_REF.format(model="InstructionSetSubmission")},
                        {"type": "array", "items": {"type": "object"}},
                    ]
                },
                "description": "The whole submission, or a bare array of instructions with "
                "name and config as query parameters.",
            },
            "application/x-ndjson": {
                "schema": {"$ref": SCHEMA_REF.format(model="InstructionSpec")},
                "description": "One instruction per line; name and config as query parameters.",
            },
            "text/csv": {
                "schema": {"type": "string"},
                "description": "A header line, then one instruction per row (streamed).",
            },
            "application/vnd.apache.parquet": {
                "schema": {"type": "string", "format": "binary"},
                "description": "One instruction per row, read a batch at a time.",
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "name"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "JSONL, JSON array, CSV or Parquet (by the part's "
                            "content type, else the file name's suffix)",
                        },
                        "name": {"type": "string", "minLength": 1, "maxLength": 200},
                        "generation_config": {
                            "type": "string",
                            "description": "The generation config as a JSON object.",
                        },
                    },
                }
            },
        },
    }
}

# Models the OpenAPI document needs although no route declares them as a parameter.
EXTRA_SCHEMA_MODELS = (InstructionSetSubmission, InstructionSpec, GenerationConfigSpec)


def _header(name: str | None, generation_config: str | None) -> SubmissionHeader:
    """The header of a JSONL submission, from query parameters or form fields."""
    try:
        config = (
            GenerationConfigSpec.model_validate_json(generation_config)
            if generation_config
            else GenerationConfigSpec()
        )
    except ValidationError as error:
        raise ApiError(
            422,
            "the generation config is invalid",
            details=details_from_pydantic(error.errors(), prefix=("generation_config",)),
        ) from error
    try:
        header = SubmissionHeader.model_validate({"name": name, "generation_config": config})
    except ValidationError as error:
        raise ApiError(
            422, "the submission header is invalid", details=details_from_pydantic(error.errors())
        ) from error
    check_header(header)
    return header


def _mapping_seed(mapping: FieldMapping) -> bytes:
    """Hash seed of a mapping: the same body read with another mapping is another submission."""
    if mapping.is_identity:
        return b""
    return json.dumps(asdict(mapping), sort_keys=True).encode() + b"\n"


def _seed(header: SubmissionHeader, mapping: FieldMapping) -> bytes:
    """Hash seed: a retried upload under another name, config or mapping is another submission."""
    return header.model_dump_json().encode() + b"\n" + _mapping_seed(mapping)


def field_mapping(preset: str | None, fields: list[str], language: str | None) -> FieldMapping:
    """The submission's field mapping from its query parameters; 422 names a bad one."""
    try:
        return FieldMapping.from_options(preset=preset, fields=fields, language=language)
    except MappingError as error:
        raise ApiError(
            422,
            "the field mapping is invalid",
            details=[ErrorDetail(field=f"query.{error.option}", message=error.message)],
        ) from error


def _upload_format(upload: UploadFile) -> InputFormat:
    """An uploaded file's format: its part's content type, else its name's suffix."""
    media_type = (upload.content_type or "").split(";")[0].strip().lower()
    if media_type in MEDIA_TYPES:
        return MEDIA_TYPES[media_type]
    return format_of_path(PurePath(upload.filename or ""))


async def _read_submission(
    request: Request, name: str | None, generation_config: str | None, mapping: FieldMapping
) -> tuple[InputFormat, HashingChunks, SubmissionHeader | None]:
    """Decide the body format and wrap the body as hashed chunks."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=8)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ApiError(422, "the upload needs a `file` part holding the instructions")
        fields = {key: value for key, value in form.items() if isinstance(value, str)}
        header = _header(fields.get("name"), fields.get("generation_config"))
        chunks = HashingChunks(pull_from_file(upload.file.read), seed=_seed(header, mapping))
        return _upload_format(upload), chunks, header
    body_format = MEDIA_TYPES.get(media_type)
    if body_format is InputFormat.JSON:
        body = await request.body()
        if not body.lstrip().startswith(b"["):  # the object form carries its own header
            chunks = HashingChunks(iter([body]).__next__, seed=_mapping_seed(mapping))
            return body_format, chunks, None
        header = _header(name, generation_config)
        chunks = HashingChunks(iter([body]).__next__, seed=_seed(header, mapping))
        return body_format, chunks, header
    if body_format is not None:
        header = _header(name, generation_config)
        chunks = HashingChunks(pull_from_async(request.stream()), seed=_seed(header, mapping))
        return body_format, chunks, header
    raise ApiError(
        415,
        "send application/json, application/x-ndjson, text/csv, application/vnd.apache.parquet "
        "or multipart/form-data",
        details=[],
    )


@router.post(
    "",
    status_code=201,
    response_model=SubmissionOut,
    openapi_extra=SUBMISSION_BODY,
    responses={
        200: {"model": SubmissionOut, "description": "A replay of an earlier submission."},
        **AUTH_RESPONSES,
        **CONFLICT_RESPONSE,
        **MALFORMED_BODY_RESPONSE,
        **TOO_LARGE_RESPONSE,
    },
    summary="Submit an instruction set",
)
async def submit_instruction_set(
    *,
    request: Request,
    principal: Submitter,
    factory: SessionFactory,
    registry: Endpoints,
    background: BackgroundTasks,
    name: Annotated[
        str | None, Query(max_length=200, description="Set name (JSONL body only).")
    ] = None,
    generation_config: Annotated[
        str | None,
        Query(max_length=10_000, description="Generation config as JSON (JSONL body only)."),
    ] = None,
    preset: Annotated[
        str | None,
        Query(
            max_length=64,
            description="Field mapping of a known layout: evol-instruct, oss-instruct, "
            "multipl-e, humaneval (docs/instructions.md).",
        ),
    ] = None,
    field: Annotated[
        list[str] | None,
        Query(
            max_length=32,
            description="`FIELD=COLUMN`, repeatable: the column holding a field "
            "(text, language, tests, entry_point, metadata.KEY); overrides the preset.",
        ),
    ] = None,
    language: Annotated[
        str | None,
        Query(max_length=32, description="Language of the rows that name none."),
    ] = None,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=200,
            pattern=r"^[\x21-\x7e]+$",
            description="Makes a retried submission return the first result.",
        ),
    ] = None,
) -> JSONResponse:
    """Store a set of instructions and queue one sequence per distinct instruction.

    The body is JSON (`{name, generation_config, instructions}`, or a bare array), JSONL (one
    instruction per line, streamed), CSV, Parquet, or a multipart upload of such a file; name
    and config are query parameters (form fields for an upload) except in the JSON object.
    Other layouts (Evol-Instruct, OSS-Instruct, MultiPL-E...) are read through a field mapping:
    `preset=`, `field=text=instruction` (repeatable), `language=`. Invalid input stores nothing
    and gets 422 listing up to 20 problems by line (or Parquet row) and field. Duplicates (same
    content hash) are skipped and listed.
    """
    mapping = field_mapping(preset, field or [], language)
    body_format, body, header = await _read_submission(request, name, generation_config, mapping)
    submission = Submission(
        body_format=body_format,
        body=body,
        header=header,
        idempotency_key=idempotency_key,
        key_id=principal.key_id,
        mapping=mapping,
    )
    outcome = await anyio.to_thread.run_sync(
        partial(store_submission, factory, submission, registry)
    )
    out = await run_in_threadpool(_set_out, factory, outcome.set_id)
    if not outcome.replayed:
        background.add_task(dispatch.enqueue_instruction_set, outcome.set_id)
    payload = SubmissionOut(**out.model_dump(), duplicates=duplicates_out(outcome.duplicates))
    return JSONResponse(
        payload.model_dump(mode="json"),
        status_code=200 if outcome.replayed else 201,
        background=background,
    )


def _set_out(factory: sessionmaker[Session], set_id: int) -> InstructionSetOut:
    with transaction(factory) as session:
        row = get_instruction_set(session, set_id)
        return instruction_set_out(row, set_progress(session, set_id))


@router.get(
    "",
    response_model=InstructionSetPage,
    responses=AUTH_RESPONSES,
    summary="List instruction sets",
)
def list_sets(
    _: Reviewer,
    factory: SessionFactory,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> InstructionSetPage:
    """Sets by ascending id with their progress; follow `next_cursor` for more."""
    with transaction(factory) as session:
        rows, last_id = list_instruction_sets(session, after_id=decode_cursor(cursor), limit=limit)
        return InstructionSetPage(
            items=instruction_sets_out(session, rows), next_cursor=encode_cursor(last_id)
        )


@router.get(
    "/{set_id}",
    response_model=InstructionSetOut,
    responses={**AUTH_RESPONSES, **NOT_FOUND_RESPONSE},
    summary="Get an instruction set with its progress",
)
def get_set(set_id: SetId, _: Reviewer, factory: SessionFactory) -> InstructionSetOut:
    """Counts by status, rounds, tokens, cost and pass rate, aggregated in one query."""
    return _set_out(factory, set_id)


def _ensure_exists(factory: sessionmaker[Session], set_id: int) -> None:
    with transaction(factory) as session:
        get_instruction_set(session, set_id)


@router.post(
    "/{set_id}/cancel",
    response_model=ActionOut,
    responses={**AUTH_RESPONSES, **NOT_FOUND_RESPONSE, **CONFLICT_RESPONSE},
    summary="Cancel the unfinished sequences of a set",
)
def cancel_set(set_id: SetId, _: Submitter, factory: SessionFactory) -> ActionOut:
    """Pending and queued sequences are cancelled; running ones stop at their next step."""
    _ensure_exists(factory, set_id)
    return ActionOut(instruction_set_id=set_id, affected=dispatch.cancel_instruction_set(set_id))


@router.post(
    "/{set_id}/retry-failed",
    response_model=ActionOut,
    responses={**AUTH_RESPONSES, **NOT_FOUND_RESPONSE, **CONFLICT_RESPONSE},
    summary="Queue the failed sequences of a set again",
)
def retry_failed_sequences(set_id: SetId, _: Submitter, factory: SessionFactory) -> ActionOut:
    """Failed sequences go back to the workers; the others are left alone."""
    _ensure_exists(factory, set_id)
    return ActionOut(instruction_set_id=set_id, affected=dispatch.retry_failed(set_id))


def _progress(factory: sessionmaker[Session], set_id: int) -> ProgressOut:
    with transaction(factory) as session:
        return progress_out(set_progress(session, set_id))


def _key_active(factory: sessionmaker[Session], key_id: int) -> bool:
    with transaction(factory) as session:
        return api_key_active(session, key_id)


async def _progress_events(
    factory: sessionmaker[Session], set_id: int, principal: Principal, settings: Settings
) -> AsyncIterator[ServerSentEvent]:
    """A ``progress`` event whenever the counts change, then ``done`` once the set is finished.

    The caller's key is checked again every ``api_key_cache_s`` (the longest a revoked key may
    keep working anywhere); once it is revoked, a ``revoked`` event closes the stream.
    """
    last: ProgressOut | None = None
    key_checked = time.monotonic()
    while True:
        if time.monotonic() - key_checked >= settings.api_key_cache_s:
            if not await run_in_threadpool(_key_active, factory, principal.key_id):
                yield ServerSentEvent(data='{"reason": "the API key was revoked"}', event="revoked")
                return
            key_checked = time.monotonic()
        progress = await run_in_threadpool(_progress, factory, set_id)
        if progress != last:
            yield ServerSentEvent(data=progress.model_dump_json(), event="progress")
            last = progress
        if progress.finished:
            yield ServerSentEvent(data=progress.model_dump_json(), event="done")
            return
        await anyio.sleep(settings.sse_poll_interval_s)


@router.get(
    "/{set_id}/events",
    response_class=EventSourceResponse,
    responses={
        200: {
            "description": (
                "Server-sent events: `progress` (a ProgressOut as JSON) on every change, "
                "then `done` when the set is finished, or `revoked` when the caller's key "
                "is revoked meanwhile."
            ),
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **AUTH_RESPONSES,
        **NOT_FOUND_RESPONSE,
    },
    summary="Follow a set's progress live",
)
async def set_events(
    set_id: SetId, principal: Reviewer, factory: SessionFactory, settings: AppSettings
) -> EventSourceResponse:
    """Streams progress snapshots while the set runs; the stream ends when it is finished."""
    await run_in_threadpool(_ensure_exists, factory, set_id)
    return EventSourceResponse(_progress_events(factory, set_id, principal, settings), ping=15)
