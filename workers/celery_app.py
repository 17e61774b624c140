"""The Celery application: Redis broker, late acknowledgement, one sequence per task.

``acks_late`` with ``task_reject_on_worker_lost`` means a task whose worker dies is delivered
again instead of being lost; the loop's ownership checks make that second delivery safe. A
worker runs its tasks on threads (``reflectseq worker``), one message at a time per thread
(prefetch 1), because a sequence task runs for minutes.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import worker_ready

from reflectseq.settings import Settings, get_settings

REAP_TASK = "workers.tasks.reap_stale_sequences"
RUN_TASK = "workers.tasks.run_sequence_task"


def create_app(settings: Settings) -> Celery:
    """A Celery app configured from the settings."""
    app = Celery(
        "reflectseq",
        broker=settings.redis_url or None,
        include=["workers.tasks", "workers.export_tasks"],
    )
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue=settings.celery_queue,
        task_routes={"workers.tasks.*": {"queue": settings.celery_queue}},
        broker_transport_options={"visibility_timeout": settings.broker_visibility_timeout_s},
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        beat_schedule={
            "reap-stale-sequences": {"task": REAP_TASK, "schedule": settings.reaper_interval_s}
        },
    )
    return app


app = create_app(get_settings())


@worker_ready.connect  # type: ignore[untyped-decorator]
def _reap_at_start(sender: Any = None, **_: Any) -> None:
    """A restarted worker first recovers what its predecessor left running."""
    app.send_task(REAP_TASK)
