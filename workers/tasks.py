"""Celery tasks: run one sequence, and reap sequences abandoned by dead workers.

Task bodies are thin: the loop itself (``workers.loop``) knows nothing about Celery, so the
embedded ``reflectseq run`` drives the very same code.
"""

from __future__ import annotations

import logging
import threading
from functools import lru_cache

from redis.exceptions import RedisError
from sqlalchemy.exc import OperationalError

from reflectseq.db.session import session_factory_for, transaction
from reflectseq.settings import get_settings
from reflectseq.store.loop import requeue_stale
from workers.celery_app import app
from workers.loop.machine import LoopContext, run_sequence
from workers.runtime import loop_context, redis_client, stale_after, worker_name

log = logging.getLogger(__name__)
MAX_TASK_RETRIES = 5
_context_lock = threading.Lock()


@lru_cache(maxsize=1)
def _built_context() -> LoopContext:
    settings = get_settings()
    return loop_context(settings, redis=redis_client(settings))


def _context() -> LoopContext:
    """Built once per worker process, on first use, and shared by all its task threads.

    Built under a lock: the first tasks of a worker start together, and every sequence must get
    the same backends, so that one in-flight limit per endpoint governs them all.
    """
    with _context_lock:
        return _built_context()


@app.task(
    bind=True,
    name="workers.tasks.run_sequence_task",
    autoretry_for=(OperationalError, RedisError, ConnectionError),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=MAX_TASK_RETRIES,
)
def run_sequence_task(self: object, sequence_id: int) -> str:
    """Step one sequence to its end; infrastructure errors retry the task (it resumes)."""
    outcome = run_sequence(
        _context(), sequence_id, worker=worker_name(), stale_after=stale_after(get_settings())
    )
    return str(outcome)


@app.task(name="workers.tasks.reap_stale_sequences")
def reap_stale_sequences() -> int:
    """Requeue sequences whose worker died or whose task was lost, and send their tasks again."""
    settings = get_settings()
    with transaction(session_factory_for(settings.database_url)) as session:
        ids = requeue_stale(session, stale_after=stale_after(settings))
    for sequence_id in ids:
        run_sequence_task.apply_async(args=[sequence_id], queue=settings.celery_queue)
    if ids:
        log.warning("requeued %d abandoned sequences: %s", len(ids), ids[:20])
    return len(ids)
