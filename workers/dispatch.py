"""Entry points the API and the CLI call to start, cancel and retry instruction sets.

Each function commits its state change first and sends tasks after: a task never sees a state
that was rolled back, and a message lost after the commit is resent by the reaper (queued
sequences that stay untouched count as abandoned).
"""

from __future__ import annotations

from reflectseq.db.session import session_factory_for, transaction
from reflectseq.settings import get_settings
from reflectseq.store.loop import cancel_set, queue_pending, requeue_failed


def _send(sequence_ids: list[int]) -> int:
    from workers.tasks import run_sequence_task  # noqa: PLC0415 - keeps the API import light

    queue = get_settings().celery_queue
    for sequence_id in sequence_ids:
        run_sequence_task.apply_async(args=[sequence_id], queue=queue)
    return len(sequence_ids)


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
