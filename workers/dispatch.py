"""Entry points the API and the CLI call to start, cancel and retry instruction sets.

Each function commits its state change first and sends tasks after: a task never sees a state
that was rolled back, and a message lost after the commit is resent by the reaper (queued
sequences that stay untouched count as abandoned).
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session, sessionmaker

from reflectseq.db.session import session_factory_for, transaction
from reflectseq.settings import get_settings
from reflectseq.store.loop import cancel_set, queue_pending, requeue_failed, requeue_stale

log = logging.getLogger(__name__)


def _send(sequence_ids: list[int]) -> int:
    # Celery loads only where tasks are sent: keeps the API import light.
    from workers.celery_app import RUN_TASK, app  # noqa: PLC0415
    from workers.publish import publish_tasks  # noqa: PLC0415
    from workers.runtime import redis_client  # noqa: PLC0415

    if not sequence_ids:
        return 0
    settings = get_settings()
    return publish_tasks(
        app, RUN_TASK, sequence_ids, queue=settings.celery_queue, redis=redis_client(settings)
    )


def enqueue_instruction_set(set_id: int) -> int:
    """Queue the set's pending sequences and send one task each; returns how many."""
    with transaction(session_factory_for(get_settings().database_url)) as session:
        ids = queue_pending(session, set_id)
    return _send(ids)


def cancel_instruction_set(set_id: int) -> int:
    """Cancel the set's unfinished sequences (running ones stop at their next step)."""
    with transaction(session_factory_for(get_settings().database_url)) as session:
        return cancel_set(session, set_id)


def retry_failed(set_id: int) -> int:
    """Queue the set's failed sequences again; they resume from their stored state."""
    with transaction(session_factory_for(get_settings().database_url)) as session:
        ids = requeue_failed(session, set_id)
    return _send(ids)


def requeue_abandoned(factory: sessionmaker[Session]) -> int:
    """The reaper: requeue sequences of dead workers and of lost messages, and send them again.

    A queued sequence left untouched may just be waiting its turn behind a long backlog, so
    queued ones count as lost only while the broker's queue is empty; running ones whose
    heartbeat stopped are requeued whatever the backlog.
    """
    from workers.runtime import redis_client, stale_after  # noqa: PLC0415

    settings = get_settings()
    redis = redis_client(settings)
    backlog = redis.llen(settings.celery_queue) if redis is not None else 0
    with transaction(factory) as session:
        ids = requeue_stale(session, stale_after=stale_after(settings), queued=backlog == 0)
    if ids:
        log.warning("requeued %d abandoned sequences: %s", len(ids), ids[:20])
    return _send(ids)
