"""``/v1/exports``: start an export job, follow it, download its file and manifest.

Creating an export only records a pending row and hands it to a worker (a Celery task with a
broker, a thread of this process in embedded mode); the client polls ``GET /v1/exports/{id}``
until it has ``succeeded`` and then downloads the file. Files are served exactly as stored, so
the sha256 of a download matches the one on the row and in the manifest (for ``.jsonl.gz`` that
means the compressed bytes: they are sent as ``application/gzip``, not as a content encoding
that a client would silently undo).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path as FilePath
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.auth import Reviewer, Submitter
from api.deps import AppSettings, SessionFactory
from api.errors import AUTH_RESPONSES, NOT_FOUND_RESPONSE, ApiError
from api.pagination import DEFAULT_LIMIT, MAX_ID, MAX_LIMIT, decode_cursor, encode_cursor
from api.schemas import ErrorResponse
from reflectseq.db.models import Export
from reflectseq.db.session import transaction
from reflectseq.enums import BlockRendering, ExportFormat, ExportStatus
from reflectseq.export.files import manifest_path_for
from reflectseq.export.jobs import create_export, export_file_name, get_export, open_export_file
from reflectseq.export.spec import ExportSpec
from reflectseq.settings import Settings
from reflectseq.store.errors import InvalidState, NotFound

router = APIRouter(prefix="/v1/exports", tags=["exports"])

ExportId = Annotated[int, Path(ge=1, le=MAX_ID, description="Export id.")]
DOWNLOAD_CHUNK_BYTES = 1 << 20
JSONL_MEDIA_TYPE = "application/x-ndjson"
GZIP_MEDIA_TYPE = "application/gzip"

_BINARY = {"schema": {"type": "string", "format": "binary"}}
DOWNLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The file as stored: JSONL, or gzip-compressed JSONL for `gzip` exports.",
        "content": {JSONL_MEDIA_TYPE: _BINARY, GZIP_MEDIA_TYPE: _BINARY},
    },
}
NOT_READY_RESPONSES: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    **NOT_FOUND_RESPONSE,
    409: {"model": ErrorResponse, "description": "The export has not succeeded (yet)."},
}


class ExportOut(BaseModel):
    """An export job: what was asked for and, once it has run, what came out."""

    id: int
    format: ExportFormat
    rendering: BlockRendering
    escape_special_tokens: bool
    gzip: bool
    filters: dict[str, Any] = Field(description="The `ExportFilters` the job runs with.")
    status: ExportStatus
    record_count: int
    counts: dict[str, Any] = Field(
        description="Records by language, verdict and review, exclusions and flags (see the "
        "manifest); empty until the job succeeds."
    )
    sha256: str | None = Field(description="Of the file's bytes as downloaded.")
    file_name: str = Field(description="The name the download is offered under.")
    error: str | None
    created_at: datetime
    finished_at: datetime | None


class ManifestSummaryOut(BaseModel):
    """The parts of the manifest that the export row does not hold."""

    file: str
    bytes: int
    created_at: datetime
    reflectseq_version: str
    generator_models: list[str]
    prompt_versions: list[str]


class ExportDetailOut(ExportOut):
    """An export with a summary of its manifest (null until the job has succeeded)."""

    manifest: ManifestSummaryOut | None


class ExportPage(BaseModel):
    """One page of exports; pass ``next_cursor`` as ``cursor`` to get the next one."""

    items: list[ExportOut]
    next_cursor: str | None


class ExportManifestOut(BaseModel):
    """The manifest written beside the file (see docs/export.md)."""

    model_config = ConfigDict(extra="allow")

    export_id: int | None
    format: ExportFormat
    rendering: BlockRendering
    escape_special_tokens: bool = False
    file: str
    gzip: bool
    sha256: str
    bytes: int
    created_at: datetime
    reflectseq_version: str
    filters: dict[str, Any]
    counts: dict[str, Any]
    generator_configs: list[dict[str, Any]]
    prompt_versions: list[str]


def _export_out(export: Export) -> ExportOut:
    spec = ExportSpec.of_export(export)
    return ExportOut(
        id=export.id,
        format=export.format,
        rendering=spec.rendering,
        escape_special_tokens=spec.escape_special_tokens,
        gzip=export.gzip,
        filters=spec.filters.model_dump(mode="json"),
        status=export.status,
        record_count=export.record_count,
        counts=export.counts,
        sha256=export.sha256,
        file_name=export_file_name(export),
        error=export.error,
        created_at=export.created_at,
        finished_at=export.finished_at,
    )


def _read_manifest(export: Export) -> dict[str, Any]:
    """The manifest of a succeeded export: 409 before success, 404 if it is gone."""
    if export.status is not ExportStatus.SUCCEEDED or export.path is None:
        raise InvalidState(f"export {export.id} is {export.status.value}, not succeeded")
    path = manifest_path_for(FilePath(export.path))
    try:
        document: dict[str, Any] = json.loads(path.read_bytes())
    except FileNotFoundError as error:
        raise NotFound("export manifest", export.id) from error
    return document


def _summary(manifest: dict[str, Any]) -> ManifestSummaryOut:
    return ManifestSummaryOut(
        file=manifest["file"],
        bytes=manifest["bytes"],
        created_at=manifest["created_at"],
        reflectseq_version=manifest["reflectseq_version"],
        generator_models=sorted({config["model"] for config in manifest["generator_configs"]}),
        prompt_versions=manifest["prompt_versions"],
    )


def _hand_over(settings: Settings, factory: sessionmaker[Session], export_id: int) -> None:
    # Imported here: the Celery app loads only once an export is started, not with the API.
    from workers.export_tasks import HandOverFailed, start_export  # noqa: PLC0415

    try:
        start_export(settings, factory, export_id)
    except HandOverFailed as error:
        raise ApiError(503, f"export {export_id} could not be queued: {error}") from error


@router.post(
    "",
    status_code=202,
    response_model=ExportOut,
    responses={
        **AUTH_RESPONSES,
        503: {"model": ErrorResponse, "description": "The job could not be queued."},
    },
    summary="Start an export",
)
def create_export_route(
    spec: ExportSpec,
    principal: Submitter,
    factory: SessionFactory,
    settings: AppSettings,
) -> JSONResponse:
    """Record an export of the completed sequences the filters select and start it.

    Answers at once with the pending job (`Location` points at it); poll it until `status` is
    `succeeded` or `failed`. Invalid filters get 422 naming each field.
    """
    with transaction(factory) as session:
        export = create_export(session, spec, created_by_key_id=principal.key_id)
        out = _export_out(export)
    _hand_over(settings, factory, out.id)
    return JSONResponse(
        out.model_dump(mode="json"),
        status_code=202,
        headers={"Location": f"{router.prefix}/{out.id}"},
    )


@router.get("", response_model=ExportPage, responses=AUTH_RESPONSES, summary="List exports")
def list_exports_route(
    _: Reviewer,
    factory: SessionFactory,
    status: ExportStatus | None = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> ExportPage:
    """Exports by ascending id, optionally of one status; follow `next_cursor` for more."""
    query = select(Export).order_by(Export.id).limit(limit + 1)
    after_id = decode_cursor(cursor)
    if after_id is not None:
        query = query.where(Export.id > after_id)
    if status is not None:
        query = query.where(Export.status == status)
    with transaction(factory) as session:
        rows = list(session.scalars(query))
        more = len(rows) > limit
        rows = rows[:limit]
        return ExportPage(
            items=[_export_out(row) for row in rows],
            next_cursor=encode_cursor(rows[-1].id if more else None),
        )


@router.get(
    "/{export_id}",
    response_model=ExportDetailOut,
    responses={**AUTH_RESPONSES, **NOT_FOUND_RESPONSE},
    summary="Get an export with its status, counts and manifest summary",
)
def get_export_route(export_id: ExportId, _: Reviewer, factory: SessionFactory) -> ExportDetailOut:
    """The job's status; once it has succeeded, its counts, sha256 and manifest summary."""
    with transaction(factory) as session:
        export = get_export(session, export_id)
        out = _export_out(export)
        try:
            manifest = _summary(_read_manifest(export))
        except (InvalidState, NotFound):
            manifest = None
    return ExportDetailOut(**out.model_dump(), manifest=manifest)


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(DOWNLOAD_CHUNK_BYTES):
            yield chunk


@router.get(
    "/{export_id}/download",
    response_class=Response,
    responses={**DOWNLOAD_RESPONSES, **NOT_READY_RESPONSES},
    summary="Download an export's file",
)
def download_export_route(
    export_id: ExportId, _: Reviewer, factory: SessionFactory
) -> StreamingResponse:
    """The JSONL file, streamed as stored; `ETag` is its sha256. 409 until it has succeeded."""
    with transaction(factory) as session:
        export = get_export(session, export_id)
        handle = open_export_file(export)
        name, sha256, compressed = export_file_name(export), export.sha256, export.gzip
    headers = {
        "Content-Disposition": f'attachment; filename="{name}"',
        "Content-Length": str(os.fstat(handle.fileno()).st_size),
        "ETag": f'"{sha256}"',
    }
    return StreamingResponse(
        _chunks(handle),
        media_type=GZIP_MEDIA_TYPE if compressed else JSONL_MEDIA_TYPE,
        headers=headers,
    )


@router.get(
    "/{export_id}/manifest",
    response_model=ExportManifestOut,
    responses=NOT_READY_RESPONSES,
    summary="Get an export's manifest",
)
def get_manifest_route(export_id: ExportId, _: Reviewer, factory: SessionFactory) -> Response:
    """The manifest written beside the file, as written. 409 until the export has succeeded."""
    with transaction(factory) as session:
        manifest = _read_manifest(get_export(session, export_id))
    return JSONResponse(manifest)
