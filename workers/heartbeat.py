"""A worker process's heartbeat: its running sequences stay fresh while the process lives.

Steps heartbeat the sequence they commit, but a sequence waiting minutes on a slow model
commits nothing, and the reaper could not tell it from one whose worker died. A daemon thread
per process refreshes, every quarter of the stale time, every sequence the process holds (by
its ``worker_name``), whatever it is doing. The thread dies with the process, so a killed
worker's sequences go stale and are requeued.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from reflectseq.db.session import transaction
from reflectseq.store.loop import heartbeat_held

log = logging.getLogger(__name__)
BEATS_PER_STALE_INTERVAL = 4


class Heartbeat:
    """Refreshes the sequences this process holds, on a thread of its own."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        worker: Callable[[], str],
        *,
        stale_after_s: float,
    ) -> None:
        self._factory = factory
        self._worker = worker
        self._interval_s = stale_after_s / BEATS_PER_STALE_INTERVAL
        self._stop = threading.Event()

    def beat(self) -> int:
        """One refresh; returns how many sequences it touched."""
        with transaction(self._factory) as session:
            return heartbeat_held(session, self._worker())

    def start(self) -> threading.Thread:
        """Beat until ``stop`` (or the process's end) on a daemon thread."""
        thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        """End the thread after its current beat."""
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.beat()
            except Exception:  # the database may be back at the next beat; stale is the fallback
                log.exception("heartbeat failed")
