"""Ending a sandbox run's own processes, and reaping what this process adopts from dead sandboxes.

Every process of a run lives in the run's PID namespace, whose first process (the "init") is the
only child of bubblewrap; when the init ends, the kernel kills everything else in the namespace.
So a run is ended by killing its init, addressed through a pidfd: never by pid number (the number
may already belong to someone else) and never by uid (another process, or another reflectseq
installation with an overlapping uid range, may own processes of that uid).

When bubblewrap dies before its init (the last-resort kill of the launcher, a crash), the init is
orphaned. Without a subreaper it would go to the host's PID 1, which in minimal containers (the
worker itself as PID 1, no tini) never reaps, leaving a zombie per incident. The process that
starts sandboxes therefore makes itself a child subreaper, adopts such inits and reaps them.

Reaping must not steal the exit status of children other code waits for: ``subprocess.Popen``,
billiard and multiprocessing call ``waitpid`` on their own pids, and a ``waitpid(-1)`` (the usual
SIGCHLD handler) would make ``Popen.wait`` report 0 for a crashed child. So only children that can
be proven adopted are reaped: the run's own init through its pidfd, and children that live in a
PID namespace below ours. This process never creates PID namespaces itself, so such a child
can only be the init of a sandbox whose bubblewrap died.

A subreaper also adopts whole chains: when a process below it that ran sandboxes dies without
ending them (a worker killed with SIGKILL under a supervisor or a test runner that runs sandboxes
itself), its bubblewraps die with it (``--die-with-parent``) and come to us as zombies in our own
namespace. Those are reaped too once dead, but only bubblewraps this process did not start: every
launch is registered (``launch``) and the registry is read under the lock the launches take, so a
bubblewrap of ours that ends before its registration is never mistaken for an adopted one. Other
orphans (a daemon that some library double-forks; the worker starts none) are left alone.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import subprocess
import threading
import weakref
from collections.abc import Callable
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37
ADOPTED_EXIT_SECONDS = 10.0  # an adopted init is dying of SIGKILL; only a loaded host makes it slow

LAUNCHER_COMMAND = "bwrap"  # what every sandbox chain ``exec``s into

_libc = ctypes.CDLL(None, use_errno=True)

_LAUNCH_LOCK = threading.Lock()
_launched: weakref.WeakSet[subprocess.Popen[bytes]] = weakref.WeakSet()
"""The sandbox chains this process started; one whose ``returncode`` is set has been reaped."""


def launch(start: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    """Start a sandbox chain with ``start`` and register it as this process's own."""
    with _LAUNCH_LOCK:
        process = start()
        _launched.add(process)
    return process


def is_child_subreaper() -> bool:
    """Whether orphaned descendants of this process are adopted by it."""
    flag = ctypes.c_int(0)
    return _libc.prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(flag), 0, 0, 0) == 0 and flag.value != 0


def become_child_subreaper() -> None:
    """Adopt orphaned descendants from now on (idempotent; ``fork`` clears it, so call per use)."""
    if is_child_subreaper():
        return
    if _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(code)}")


def _status(pid: int | str) -> dict[str, str]:
    """``/proc/PID/status`` as a mapping (empty once the process is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def _namespace_depth(status: dict[str, str]) -> int:
    """How many PID namespaces, from this /proc's down, the process has a pid in."""
    return len(status.get("NSpid", "").split())


def _exited(pidfd: int, timeout: float) -> bool:
    """Wait up to ``timeout`` for the process to end (a pidfd is readable once it has)."""
    poller = select.poll()  # not select(): a busy worker's descriptors pass FD_SETSIZE (1024)
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(max(timeout, 0.0) * 1000))


class NamespaceInit:
    """A pidfd on the first process of one run's PID namespace."""

    def __init__(self, pidfd: int) -> None:
        self.pidfd = pidfd

    @classmethod
    def find(cls, pid: int, launcher_pid: int) -> NamespaceInit | None:
        """The init bubblewrap reported as ``child-pid``, if it still is that process.

        The pidfd is opened first and the process checked after (pid 1 of a namespace below
        ours, a child of the launcher or, once the launcher is dead, adopted by us); the check
        holds for the pidfd's process as long as that is not reaped, which
        ``pidfd_send_signal(0)`` confirms last.
        """
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            return None  # already reaped
        status = _status(pid)
        ours = (
            status.get("PPid") in (str(launcher_pid), str(os.getpid()))
            and status.get("NSpid", "").split()[-1:] == ["1"]
            and _namespace_depth(status) > _namespace_depth(_status("self"))
        )
        try:
            if ours:
                signal.pidfd_send_signal(pidfd, 0)
                return cls(pidfd)
        except ProcessLookupError:
            pass
        os.close(pidfd)
        return None

    def kill(self) -> None:
        """End the run: the kernel kills every process of the namespace with its init."""
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)

    def reap(self, timeout: float) -> None:
        """Collect the init if this process adopted it; bubblewrap's own child is left to it."""
        peek = os.WEXITED | os.WNOHANG | os.WNOWAIT
        try:
            os.waitid(os.P_PIDFD, self.pidfd, peek)
        except ChildProcessError:
            return  # not our child: bubblewrap reaps (or has reaped) it
        if _exited(self.pidfd, timeout):
            with contextlib.suppress(ChildProcessError):  # another thread's sweep was first
                os.waitid(os.P_PIDFD, self.pidfd, os.WEXITED | os.WNOHANG)

    def close(self) -> None:
        os.close(self.pidfd)


def _adopted_candidates() -> list[int]:
    """Pids of the children of this process's main thread: where every adopted orphan goes.

    The kernel hands an orphan to the first live thread of the subreaper's thread group, its
    main thread, which lives as long as the process (``find_new_reaper`` in ``kernel/exit.c``).
    Children that other threads started stay on those threads' own lists, so they are not read
    at all: a worker with hundreds of sequence threads reading every thread's list paid ≈ 5 ms of
    CPU per execution at 256 threads, and this is the same single read at any thread count.
    """
    try:
        text = Path(f"/proc/self/task/{os.getpid()}/children").read_text()
    except OSError:
        return []
    return [int(pid) for pid in text.split()]


def reap_adopted(wait_s: float = 0.0) -> int:
    """Reap the sandbox inits and dead bubblewraps this process adopted; returns how many.

    An init still running lost its bubblewrap before it was told to die with it (bubblewrap
    arms that late in its setup), so its run is over: it is killed now, and reaped by a later
    call, or by this one after waiting up to ``wait_s`` for it to die. A caller that makes no
    later call (a warm pool being closed) waits: otherwise the init would stay a zombie.
    """
    return _reap_adopted_inits(wait_s) + _reap_adopted_launchers()


def _reap_adopted_launchers() -> int:
    """Reap dead bubblewraps that some dead descendant started (see the module docstring)."""
    reaped = 0
    with _LAUNCH_LOCK:
        own = {process.pid for process in _launched if process.returncode is None}
        for pid in _adopted_candidates():
            status = _status(pid)
            if (
                pid in own
                or not status.get("State", "").startswith("Z")
                or status.get("Name") != LAUNCHER_COMMAND
            ):
                continue
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)  # a zombie not ours: nobody else may wait for it
                reaped += 1
    return reaped


def _reap_adopted_inits(wait_s: float) -> int:
    depth = _namespace_depth(_status("self"))
    reaped = 0
    for pid in _adopted_candidates():
        try:
            pidfd = os.pidfd_open(pid)  # pins the process: the checks below are about this one
        except OSError:
            continue
        try:
            status = _status(pid)
            if _namespace_depth(status) <= depth:
                continue  # started by this process: its status belongs to whoever waits for it
            if not status.get("State", "").startswith("Z"):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                if not _exited(pidfd, wait_s):
                    continue
            os.waitid(os.P_PIDFD, pidfd, os.WEXITED | os.WNOHANG)
            reaped += 1
        except (ChildProcessError, ProcessLookupError):
            pass  # reaped meanwhile by whoever owns it
        finally:
            os.close(pidfd)
    return reaped
