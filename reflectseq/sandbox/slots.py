"""Execution slots shared by every process of a host, handed out with ``flock``.

A slot is two things at once: a unit of the host-wide concurrency limit (worker threads, API
threads and CLI runs all draw from the same pool) and a private host uid. RLIMIT_NPROC counts
every process of a uid on the whole host, so a fork bomb can only be capped per execution when no
two executions share a uid.

Inside one process, a semaphore of the same size lets only as many threads wait on the lock files
as there are slots: a worker runs hundreds of sequences on threads, and the others wait on the
semaphore instead of polling the files.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

POLL_SECONDS = 0.01
MAX_POLL_SECONDS = 0.1


class SlotPool:
    """``size`` slots backed by lock files in ``lock_dir``."""

    def __init__(self, lock_dir: Path, size: int) -> None:
        self.lock_dir = lock_dir
        self.size = size
        self._in_process = threading.BoundedSemaphore(size)

    def _open(self, index: int) -> int:
        self.lock_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        return os.open(self.lock_dir / f"slot-{index}.lock", os.O_RDWR | os.O_CREAT, 0o600)

    def _try_take(self) -> tuple[int, int] | None:
        start = random.randrange(self.size)
        for offset in range(self.size):
            index = (start + offset) % self.size
            fd = self._open(index)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return index, fd
        return None

    @contextlib.contextmanager
    def lease(self) -> Iterator[int]:
        """Hold a free slot for the duration of the block; waits while all are taken."""
        with self._in_process:
            delay = POLL_SECONDS
            while (taken := self._try_take()) is None:
                time.sleep(delay)
                delay = min(delay * 2, MAX_POLL_SECONDS)
            index, fd = taken
            try:
                yield index
            finally:
                os.close(fd)  # closing the descriptor releases the lock
