"""Export jobs as the API, the workers and the CLI run them: recorded, claimed once, finished.

``create_export`` records a pending row (the API's ``POST /v1/exports``); ``run_export`` claims
it, streams the file and its manifest, and records counts, sha256 and path (a worker task, the
embedded runner or the CLI call it); ``open_export_file`` opens a finished file for a streamed
download. Claiming is a conditional update, so two workers handed the same job cannot both
write it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, cast

from sqlalchemy import CursorResult, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from reflectseq.db.models import Export
from reflectseq.db.session import transaction
from reflectseq.enums import ExportStatus
from reflectseq.export.files import ProgressCallback, write_export
from reflectseq.export.spec import ExportSpec
from reflectseq.store.errors import InvalidState, NotFound

log = logging.getLogger(__name__)


def failure_reason(error: Exception) -> str:
    """What a failed export row says, in our words: every reader of the job sees it.

    Database errors carry SQL text and parameters, so only their class of failure is stated;
    the full exception goes to the server log.
    """
    if isinstance(error, OSError):
        return f"the export file could not be written ({error.strerror or 'I/O error'})"
    if isinstance(error, SQLAlchemyError):
        return "the database failed while the export was read; see the server log"
    return "the export failed unexpectedly; see the server log"


def create_export(
    session: Session, spec: ExportSpec, *, created_by_key_id: int | None = None
) -> Export:
    """Record a pending export of ``spec`` (committing is the caller's unit of work)."""
    export = Export(
        format=spec.format,
        filters=spec.stored_options(),
        gzip=spec.gzip,
        status=ExportStatus.PENDING,
        created_by_key_id=created_by_key_id,
    )
    session.add(export)
    session.flush()
    return export


def get_export(session: Session, export_id: int) -> Export:
    """The export with this id, or ``NotFound``."""
    export = session.get(Export, export_id)
    if export is None:
        raise NotFound("export", export_id)
    return export


def export_file_name(export: Export) -> str:
    """The file name a job gives its output in the exports directory."""
    suffix = ".jsonl.gz" if export.gzip else ".jsonl"
    return f"export-{export.id}-{export.format.value}{suffix}"


def _claim(session_factory: sessionmaker[Session], export_id: int) -> Export:
    with transaction(session_factory) as session:
        result = session.execute(
            update(Export)
            .where(Export.id == export_id, Export.status == ExportStatus.PENDING)
            .values(status=ExportStatus.RUNNING)
        )
        claimed = cast(CursorResult[Any], result).rowcount
        export = get_export(session, export_id)
        if not claimed:
            raise InvalidState(f"export {export_id} is {export.status.value}, not pending")
        session.refresh(export)
        return export


def run_export_to(
    session_factory: sessionmaker[Session],
    export_id: int,
    path: Path,
    *,
    on_progress: ProgressCallback | None = None,
    manifest_path: Path | None = None,
) -> Export:
    """Run a pending export into ``path``; the row ends ``succeeded`` or ``failed``.

    A failure is recorded on the row (with no file left behind) and then re-raised.
    """
    export = _claim(session_factory, export_id)
    spec = ExportSpec.of_export(export)
    try:
        written = write_export(
            session_factory,
            spec,
            path,
            export_id=export_id,
            on_progress=on_progress,
            manifest_path=manifest_path,
        )
    except Exception as error:
        log.exception("export %d failed", export_id)
        with transaction(session_factory) as session:
            failed = get_export(session, export_id)
            failed.status = ExportStatus.FAILED
            failed.error = failure_reason(error)
            failed.finished_at = datetime.now(UTC)
        raise
    with transaction(session_factory) as session:
        done = get_export(session, export_id)
        done.status = ExportStatus.SUCCEEDED
        done.record_count = written.counts.records
        done.counts = written.counts.as_dict()
        done.sha256 = written.sha256
        done.path = str(path.resolve())
        done.finished_at = datetime.now(UTC)
        return done


def run_export(
    session_factory: sessionmaker[Session],
    export_id: int,
    out_dir: Path,
    *,
    on_progress: ProgressCallback | None = None,
) -> Export:
    """Run a pending export into ``out_dir`` under its standard file name."""
    with session_factory() as session:
        name = export_file_name(get_export(session, export_id))
    return run_export_to(session_factory, export_id, out_dir / name, on_progress=on_progress)


def open_export_file(export: Export) -> BinaryIO:
    """The finished export's file, opened for reading in binary (for a streamed download).

    ``InvalidState`` while the export has not succeeded; ``NotFound`` if its file is gone.
    """
    if export.status is not ExportStatus.SUCCEEDED or export.path is None:
        raise InvalidState(f"export {export.id} is {export.status.value}, not succeeded")
    try:
        return Path(export.path).open("rb")
    except FileNotFoundError as error:
        raise NotFound("export file", export.path) from error
