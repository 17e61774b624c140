"""The Celery task that runs one sequence (the reaper is ``workers.dispatch.requeue_abandoned``).

Task bodies are thin: the loop itself (``workers.loop``) knows nothing about Celery, so the
embedded ``reflectseq run`` drives the very same code.
"""

from __future__ import annotations

from functools import lru_cache

from redis.exceptions import RedisError
from sqlalchemy.exc import OperationalError

from reflectseq.settings import get_settings
from workers.celery_app import app
from workers.loop.machine import LoopContext, run_sequence
from workers.runtime import loop_context, redis_client, stale_after, worker_name

MAX_TASK_RETRIES = 5


@lru_cache(maxsize=1)
def _context() -> LoopContext:
    """Built once per worker process (after the fork), so each child has its own connections."""
    settings = get_settings()
    return loop_context(settings, redis=redis_client(settings))


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
