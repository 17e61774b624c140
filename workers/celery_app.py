"""The Celery application: Redis broker, late acknowledgement, one sequence per task.

``acks_late`` with ``task_reject_on_worker_lost`` means a task whose worker dies is delivered
again instead of being lost; the loop's ownership checks make that second delivery safe. A
worker runs its tasks on threads (``reflectseq worker``), one message at a time per thread
(prefetch 1), because a sequence task runs for minutes. Each process heartbeats the sequences it
holds from a thread (``workers.heartbeat``); the reaper is no task but the housekeeper thread of
``reflectseq worker`` (``workers.housekeeping``).
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import worker_ready

from reflectseq.db.session import session_factory_for
from reflectseq.settings import Settings, get_settings
from workers.heartbeat import Heartbeat
from workers.runtime import worker_name

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
    )
    return app


app = create_app(get_settings())


@worker_ready.connect  # type: ignore[untyped-decorator]
def _start_heartbeat(**_: Any) -> None:
    """The worker process keeps its sequences fresh: its tasks run on threads of this process
    (``reflectseq worker`` uses the threads pool), so this is the one process that holds them."""
    settings = get_settings()
    factory = session_factory_for(settings.database_url)
    Heartbeat(factory, worker_name, stale_after_s=settings.stale_after_s).start()
