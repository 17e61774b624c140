"""A memory watchdog for hosts where no cgroup can bound an execution.

Without a cgroup, the only kernel limit is RLIMIT_AS, which is per process and breaks the runtimes
that reserve large address ranges up front (Go, GHC, BEAM, mono, the JVM, node): a Go test could
allocate 3 GB against a 1 GiB budget. The watchdog closes that gap from outside. A few times a
second it adds up

* the proportional set size (PSS: a page shared by N processes counts 1/N to each, so the JVM's
  libraries are not counted once per thread pool or child) of every process in the sandbox's PID
  namespace, read through the namespace's own ``/proc``; the resident set size where
  ``smaps_rollup`` cannot be read;
* the space used in the sandbox's tmpfs mounts, whose pages belong to no process, plus a kernel
  memory estimate per file there (an empty file still costs an inode and a dentry);

and kills the namespace's first process, which takes every other with it, once the sum exceeds
the budget. A program can overshoot by what it allocates between two samples, so sampling quickens
as the sum nears the budget. Pages of a memory file (``memfd``) that no process maps and SysV
shared memory that no process attaches are not seen; a cgroup counts them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from pathlib import Path

SAMPLE_SECONDS = 0.2
NEAR_SAMPLE_SECONDS = 0.05
NEAR_FRACTION = 0.5  # sample at NEAR_SAMPLE_SECONDS once the sum passes this share of the budget
INODE_BYTES = 1024  # kernel memory of one tmpfs file (inode and dentry), as tmpfs itself reckons
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
KIB = 1024


def _parent_pid(pid: str) -> int | None:
    try:
        stat = Path("/proc", pid, "stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def _child_of(parent: int) -> int | None:
    """The first child of ``parent`` (bubblewrap forks exactly one: the namespace's init)."""
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and _parent_pid(entry.name) == parent:
            return int(entry.name)
    return None


def process_bytes(proc: str) -> int:
    """PSS of one process from its ``/proc`` directory, or RSS where PSS cannot be read."""
    try:
        with open(f"{proc}/smaps_rollup", "rb") as rollup:
            for line in rollup:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * KIB
        return 0  # a zombie: no memory left
    except ProcessLookupError:
        return 0  # ended since the directory was listed
    except OSError:
        pass  # smaps_rollup unreadable or missing (kernels before 4.14): fall back to RSS
    try:
        with open(f"{proc}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * PAGE_BYTES
    except (OSError, IndexError):
        return 0


def tmpfs_bytes(path: str) -> int:
    """Pages and files held by the tmpfs mounted at ``path`` (0 when it is gone)."""
    try:
        usage = os.statvfs(path)
    except OSError:
        return 0
    blocks = (usage.f_blocks - usage.f_bfree) * usage.f_frsize
    return blocks + (usage.f_files - usage.f_ffree) * INODE_BYTES


def namespace_bytes(root: str, scratch_mounts: tuple[str, ...]) -> int:
    """Memory of a sandbox whose root directory is ``root`` (``/proc/<init>/root``)."""
    proc = f"{root}/proc"
    try:
        pids = [name for name in os.listdir(proc) if name.isdigit()]
    except OSError:
        pids = []
    used = sum(process_bytes(f"{proc}/{pid}") for pid in pids)
    return used + sum(tmpfs_bytes(root + mount) for mount in scratch_mounts)


class MemoryWatchdog:
    """Samples one sandbox from a thread and kills it when it exceeds ``budget_bytes``."""

    def __init__(self, budget_bytes: int, scratch_mounts: tuple[str, ...]) -> None:
        self.budget_bytes = budget_bytes
        self.scratch_mounts = scratch_mounts
        self.exceeded = False
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, launcher_pid: int) -> None:
        """Watch the sandbox started by ``launcher_pid`` (bubblewrap, or an exec chain to it)."""
        self._thread = threading.Thread(
            target=self._watch, args=(launcher_pid,), name="memory-watchdog", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling; returns once the thread has ended."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _watch(self, launcher_pid: int) -> None:
        init = self._find_init(launcher_pid)
        if init is None:
            return
        pid, pidfd = init
        try:
            root = f"/proc/{pid}/root"
            interval = SAMPLE_SECONDS
            while not self._stop.wait(interval):
                if not _set_up(root):
                    continue  # bubblewrap's child has not moved into the new root yet
                used = namespace_bytes(root, self.scratch_mounts)
                self.peak_bytes = max(self.peak_bytes, used)
                if used > self.budget_bytes:
                    self.exceeded = True
                    with contextlib.suppress(ProcessLookupError):
                        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                    return
                near = used > self.budget_bytes * NEAR_FRACTION
                interval = NEAR_SAMPLE_SECONDS if near else SAMPLE_SECONDS
        finally:
            os.close(pidfd)

    def _find_init(self, launcher_pid: int) -> tuple[int, int] | None:
        """The namespace's init and a pidfd on it, checked to be the launcher's child after the
        pidfd was opened, so that a recycled pid can never be the one signalled."""
        while (child := _child_of(launcher_pid)) is None:
            if self._stop.wait(NEAR_SAMPLE_SECONDS):
                return None
        try:
            pidfd = os.pidfd_open(child)
        except ProcessLookupError:
            return None
        if _parent_pid(str(child)) != launcher_pid:
            os.close(pidfd)
            return None
        return child, pidfd


def _set_up(root: str) -> bool:
    """True once the process behind ``root`` lives in its own root (after bubblewrap's
    pivot_root); before that, its ``/proc`` would be the host's."""
    try:
        return os.stat(root).st_dev != os.stat("/").st_dev
    except OSError:
        return False
