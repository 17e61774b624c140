"""Execution slots shared by every process of a host, each held by binding an abstract socket.

A slot is two things at once: a unit of the host-wide concurrency limit (worker threads, API
threads and CLI runs all draw from the same pool) and, when the sandbox runs as root, a
private host uid. RLIMIT_NPROC counts every process of a uid on the whole host, so a fork bomb can
only be capped per execution when no two executions share a uid; the uid is therefore what a slot
is keyed by: the name of a slot is derived from its uid, not from a position in one process's
configuration, so two processes with different settings still never run as the same uid at once.

Holding a slot means holding a Unix socket bound to that name in the abstract namespace (Linux
only). Why that and not a lock file:

* the abstract namespace belongs to the network namespace, which every reflectseq process of a
  host shares (they all reach Postgres and Redis through it). A lock file lives in a mount
  namespace and a directory: a systemd ``PrivateTmp``, a container's own ``/tmp`` or a different
  lock directory in the settings silently split a lock-file pool in two, and two processes then
  took the same uid and killed each other's programs;
* the kernel frees the name when the last descriptor of the socket closes, which includes the
  holder dying in any way: no stale lock is ever left behind, exactly like ``flock``;
* binding is atomic: it fails with ``EADDRINUSE`` while another process holds the name.

Limits: processes in other network namespaces (containers on one host that share host uids) do not
see each other's names and must use disjoint uid ranges (``sandbox_uid_base``), which they need
anyway because RLIMIT_NPROC would otherwise count their executions together. Any local user can
bind a name first; that only takes the slot out of the pool (the lease waits for another one), it
never lets two executions share a uid.

Inside one process, a semaphore of the same size lets only as many threads try the names as
there are slots: a worker runs hundreds of sequences on threads, and the others wait on the
semaphore instead of polling.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import socket
import threading
import time
from collections.abc import Iterator

POLL_SECONDS = 0.01
MAX_POLL_SECONDS = 0.1
NAME_PREFIX = "reflectseq-sandbox"


def slot_name(index: int, uid: int | None) -> bytes:
    """The abstract socket name of a slot: its uid, or (without private uids) this user's index.

    Without private uids every execution runs as the calling user, so the slot is only a share
    of that user's concurrency limit and is keyed by the user and the slot's position.
    """
    if uid is not None:
        return f"\0{NAME_PREFIX}/uid/{uid}".encode()
    return f"\0{NAME_PREFIX}/user/{os.geteuid()}/slot/{index}".encode()


class SlotPool:
    """``size`` slots; with ``private_uids`` slot ``i`` is host uid ``uid_base + i``."""

    def __init__(self, uid_base: int, size: int, *, private_uids: bool) -> None:
        self.uid_base = uid_base
        self.size = size
        self.private_uids = private_uids
        self._in_process = threading.BoundedSemaphore(size)

    def uid_of(self, index: int) -> int | None:
        """The host uid a program of slot ``index`` runs as (None: the caller's own)."""
        return self.uid_base + index if self.private_uids else None

    def _try_take(self) -> tuple[int | None, socket.socket] | None:
        start = random.randrange(self.size)
        for offset in range(self.size):
            index = (start + offset) % self.size
            holder = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # never inherited
            try:
                holder.bind(slot_name(index, self.uid_of(index)))
            except OSError as exc:
                holder.close()
                if exc.errno == errno.EADDRINUSE:
                    continue
                raise
            return self.uid_of(index), holder
        return None

    @contextlib.contextmanager
    def lease(self) -> Iterator[int | None]:
        """Hold a free slot for the block and yield its uid; waits while all are taken."""
        with self._in_process:
            delay = POLL_SECONDS
            while (taken := self._try_take()) is None:
                time.sleep(delay)
                delay = min(delay * 2, MAX_POLL_SECONDS)
            uid, holder = taken
            with holder:  # closing the socket frees the name
                yield uid
