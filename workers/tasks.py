"""The Celery task that runs one sequence (the reaper is ``workers.dispatch.requeue_abandoned``).

Task bodies are thin: the loop itself (``workers.loop``) knows nothing about Celery, so the
embedded ``reflectseq run`` drives the very same code.
"""

from __future__ import annotations

import threading
from functools import lru_cache

from redis.exceptions import RedisError
from sqlalchemy.exc import OperationalError

from reflectseq.settings import get_settings
from workers.celery_app import app
from workers.loop.machine import LoopContext, run_sequence
from workers.runtime import loop_context, redis_client, stale_after, worker_name

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
