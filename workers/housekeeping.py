"""Periodic housekeeping (the reaper of abandoned sequences), run by one worker of the fleet.

Not a Celery task: a task waits in the queue behind every sequence task sent before it, and on a
worker whose processes are all busy it is not even fetched, so a dead worker's sequences were
requeued only once the whole backlog had started. The housekeeper is instead a daemon thread of
each ``reflectseq worker`` main process. Every interval it tries to hold a Redis lock that
expires after two intervals; the holder runs the jobs, the others wait for the lock to fall
free. So one housekeeper runs at a time however many workers start, it dies with its process
(no scheduler child outliving a killed worker), and a killed leader's lock passes on within two
intervals.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from redis import Redis
from redis.exceptions import LockError, RedisError

from reflectseq.db.session import make_engine, make_session_factory
from reflectseq.settings import Settings

log = logging.getLogger(__name__)
LOCK_INTERVALS = 2


def lock_name(queue: str) -> str:
    """One housekeeper per queue of sequence tasks (a deployment)."""
    return f"reflectseq:housekeeping:{queue}"


class Housekeeper:
    """Runs ``jobs`` every ``interval_s`` while it holds the fleet's housekeeping lock."""

    def __init__(
        self,
        redis: Redis,
        *,
        queue: str,
        interval_s: float,
        jobs: Sequence[Callable[[], object]],
    ) -> None:
        self._lock = redis.lock(
            lock_name(queue), timeout=LOCK_INTERVALS * interval_s, thread_local=False
        )
        self._interval_s = interval_s
        self._jobs = jobs
        self._stop = threading.Event()

    def lead(self) -> bool:
        """Take or keep the lock; whether this process is the housekeeper now."""
        try:
            if self._lock.owned():
                return bool(self._lock.reacquire())
            return bool(self._lock.acquire(blocking=False))
        except (LockError, RedisError) as error:
            log.warning("housekeeping lock unavailable: %s", error)
            return False

    def tick(self) -> bool:
        """Run the jobs if this process leads; whether it did."""
        if not self.lead():
            return False
        for job in self._jobs:
            try:
                job()
            except Exception:  # one failed round must not end housekeeping
                log.exception("housekeeping job %s failed", getattr(job, "__name__", job))
        return True

    def start(self) -> threading.Thread:
        """Tick now (a restarted worker first recovers what was abandoned), then periodically."""
        thread = threading.Thread(target=self._run, name="housekeeping", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        """End the thread after its current tick and free the lock for another worker."""
        self._stop.set()

    def _run(self) -> None:
        self.tick()
        while not self._stop.wait(self._interval_s):
            self.tick()
        try:
            if self._lock.owned():
                self._lock.release()
        except (LockError, RedisError):
            pass  # it expires by itself


def fleet_housekeeper(settings: Settings, redis: Redis) -> Housekeeper:
    """The housekeeper of ``reflectseq worker``: the reaper of abandoned sequences.

    It runs in the worker's main process, whose pool processes are forked later too; its engine
    is its own and holds no connection between ticks, so no child inherits an open one.
    """
    from workers.dispatch import requeue_abandoned  # noqa: PLC0415 - imports Celery's app

    engine = make_engine(settings.database_url)
    factory = make_session_factory(engine)

    def reap_abandoned_sequences() -> None:
        try:
            requeue_abandoned(factory)
        finally:
            engine.dispose()

    return Housekeeper(
        redis,
        queue=settings.celery_queue,
        interval_s=settings.reaper_interval_s,
        jobs=[reap_abandoned_sequences],
    )
