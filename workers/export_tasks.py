"""Running export jobs off the request path: a Celery task, or a thread of an embedded API.

``POST /v1/exports`` records a pending row and calls ``start_export``. With a broker the job
goes to any worker as ``run_export_task``; without one (embedded mode, a single process) it runs
in a thread of the API process. Both end in ``execute_export``, so the two modes behave alike.

Redelivery is harmless: ``run_export`` claims the row with a conditional update, so a second
delivery of a job that is already running or finished finds it not pending and does nothing.
A failure is recorded on the row by ``run_export`` and is not retried, because a file that
failed once (a full disk, a bad filter document) fails the same way again.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from pathlib import Path

from kombu.exceptions import OperationalError as BrokerError
from sqlalchemy.orm import Session, sessionmaker

from reflectseq.db.session import session_factory_for, transaction
from reflectseq.enums import ExportStatus
from reflectseq.export.jobs import get_export, run_export
from reflectseq.metrics import EXPORTS_FINISHED
from reflectseq.settings import Settings, get_settings
from reflectseq.store.errors import InvalidState, NotFound
from workers.celery_app import app

log = logging.getLogger(__name__)

EXPORTS_SUBDIR = "exports"
RUN_EXPORT_TASK = "workers.export_tasks.run_export_task"


class HandOverFailed(RuntimeError):
    """The broker did not take the job; the export has been recorded as failed."""


def exports_dir(settings: Settings) -> Path:
    """Where export files and their manifests are written: ``<data_dir>/exports``."""
    return settings.data_dir / EXPORTS_SUBDIR


def _count_finished(session_factory: sessionmaker[Session], export_id: int) -> ExportStatus:
    with session_factory() as session:
        export = get_export(session, export_id)
        EXPORTS_FINISHED.labels(format=export.format.value, status=export.status.value).inc()
        return export.status


def execute_export(
    session_factory: sessionmaker[Session], export_id: int, out_dir: Path
) -> ExportStatus | None:
    """Run a pending export to its end; its final status, or None if it was not pending.

    Never raises for the job's own failure (it is on the row, with the error text), so neither
    Celery nor the embedded thread retries or loses it.
    """
    try:
        run_export(session_factory, export_id, out_dir)
    except (InvalidState, NotFound) as error:
        log.info("export %d skipped: %s", export_id, error)
        return None
    except Exception:
        log.exception("export %d failed", export_id)
    return _count_finished(session_factory, export_id)


@app.task(name=RUN_EXPORT_TASK, acks_late=True, ignore_result=True)  # type: ignore[untyped-decorator]
def run_export_task(export_id: int) -> str | None:
    """Celery entry point: run the export with this worker's settings."""
    settings = get_settings()
    status = execute_export(
        session_factory_for(settings.database_url), export_id, exports_dir(settings)
    )
    return None if status is None else status.value


# Broker errors can name the broker's URL (with its password); readers of the job get this.
HAND_OVER_FAILURE = "the job could not be queued: the message broker did not accept it"


def _record_hand_over_failure(session_factory: sessionmaker[Session], export_id: int) -> None:
    with transaction(session_factory) as session:
        export = get_export(session, export_id)
        export.status = ExportStatus.FAILED
        export.error = HAND_OVER_FAILURE
        export.finished_at = datetime.now(UTC)
    _count_finished(session_factory, export_id)


def start_export(
    settings: Settings, session_factory: sessionmaker[Session], export_id: int
) -> None:
    """Hand a committed pending export to a worker (or to a thread in embedded mode).

    Raises ``HandOverFailed`` if the broker refuses the job, after recording the export as
    failed: a pending row that no task will ever run would otherwise wait forever.
    """
    if settings.embedded:
        threading.Thread(
            target=execute_export,
            args=(session_factory, export_id, exports_dir(settings)),
            name=f"export-{export_id}",
            daemon=True,
        ).start()
        return
    try:
        # Through the broker of ``settings`` (the API's), not whichever one the process-wide
        # Celery app was built with.
        with app.connection_for_write(settings.redis_url) as connection:
            run_export_task.apply_async(
                args=[export_id], queue=settings.celery_queue, connection=connection
            )
    except BrokerError as error:
        log.warning("export %d could not be queued: %s", export_id, error)
        _record_hand_over_failure(session_factory, export_id)
        raise HandOverFailed(HAND_OVER_FAILURE) from error
