"""Warm starts: sandboxes started before their program is known, each used for one program.

bubblewrap creates the namespaces and mounts the file system before it copies the files in (the
``--file`` operations come last), so a sandbox launched with pipes in place of memfds is set up as
far as that copy and waits there. A warm sandbox is such a chain, launched by a background thread
for the *shape* of a recent plan (language, commands, limits, environment and file names; see
``shape``) through ``LocalBackend.launch``, the very function a cold start uses: the same command
line, seccomp filter and memory guard. An execution of the same shape takes it, writes its files
and stdin into the pipes, and supervises it exactly as a cold start. Each warm sandbox runs one
program and is then gone, so nothing is shared between runs: every program still gets a fresh
namespace, fresh tmpfs, fresh memory guard and a uid no other live sandbox has. What moves off
the latency path is the set-up of bubblewrap and the chain in front of it.

A warm sandbox needs its private uid from the moment it is launched, but must not hold an
execution slot while it waits (idle sandboxes of one process would starve every other process of
slots). Its uid therefore comes from a ``SlotPool`` of its own on the same host-wide authority as
the slots (an abstract socket per uid), uids ``sandbox_uid_base + WARM_UID_OFFSET + i``, and the
execution slot is taken when the program arrives, as for a cold start: the host-wide limit on
programs running at once is unchanged. Nothing is ever killed by uid: a run ends as a cold one
does, through a pidfd on its namespace's init, and the namespace dies with that init, so the uid
is free again as soon as the run is supervised to its end.

The thread that launches warm sandboxes lives as long as the pool, because bubblewrap's
``--die-with-parent`` follows the *thread* that started it.

Fork safety: a child forked (Celery's prefork pool, ``multiprocessing``) while a warm sandbox is
alive gets copies of its pipes' write ends and of its uid's socket. A copy of a write end kept
open would hold the parent's sandbox at end-of-file (its run would time out), a copy of the
socket would keep the uid taken after the parent freed it. So every live sandbox is registered,
a fork waits for launches and closes in flight (``_FORK_LOCK``), and the child closes its copies
of everything registered.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import logging
import os
import queue
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from reflectseq.sandbox.local import Launched, LocalBackend
from reflectseq.sandbox.reaping import ADOPTED_EXIT_SECONDS, reap_adopted
from reflectseq.sandbox.slots import SlotPool
from reflectseq.sandbox.supervisor import abandon
from reflectseq.settings import WARM_UID_OFFSET, WARM_UIDS

if TYPE_CHECKING:
    from reflectseq.sandbox.models import ExecutionResult
    from reflectseq.sandbox.plan import ExecutionPlan

log = logging.getLogger(__name__)

MAX_SHAPES = 8
"""Plan shapes a process keeps sandboxes for; the least recently used beyond are torn down (a
request with limits of its own is a shape of its own, and may never come again)."""

STDIN = "\0stdin"  # not a file name: its pipe becomes the program's standard input

Shape = tuple[object, ...]


def shape(plan: ExecutionPlan) -> Shape:
    """Everything of a plan that its sandbox is launched with: all but the files' content and stdin.

    The compile and run timeouts are part of it because they set the CPU-time limit, the memory
    budget because it sets the memory guard, the address-space limit and the runtimes' heap flags.
    """
    return (
        plan.language.code,
        tuple(plan.files),
        tuple(plan.compile or ()),
        tuple(plan.run),
        plan.compile_timeout,
        plan.run_timeout,
        plan.memory_mb,
        tuple(sorted(plan.env.items())),
    )


_FORK_LOCK = threading.Lock()
"""Held while descriptors of warm sandboxes are opened and registered, or closed, and by a fork."""


@dataclass(eq=False)
class WarmSandbox:
    """A launched chain waiting for its files; the write ends of its pipes are held here."""

    launched: Launched
    file_writers: dict[str, int]
    stdin_writer: int
    uid_lease: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    def alive(self) -> bool:
        return self.launched.process.poll() is None

    def feed(self, plan: ExecutionPlan) -> bool:
        """Write the program's files and stdin; ``False`` (nothing run) if the sandbox cannot take
        them: it died while it waited, or stdin does not fit the pipe."""
        if not self.alive() or len(plan.stdin) > fcntl.fcntl(self.stdin_writer, fcntl.F_GETPIPE_SZ):
            return False
        try:
            # In bubblewrap's order: it reads each file to its end (our close) before the next.
            for name in list(self.file_writers):
                _write_all(self.file_writers[name], plan.files[name])
                with _FORK_LOCK:
                    os.close(self.file_writers.pop(name))
        except BrokenPipeError:
            return False  # bubblewrap died before its program could start
        with contextlib.suppress(BrokenPipeError):  # the program ended without reading it all
            _write_all(self.stdin_writer, plan.stdin)
        self.close_writers()
        return True

    def close_writers(self) -> None:
        """Close the write ends still open (each once: a number closed twice may be reused)."""
        with _FORK_LOCK:
            self.close_writers_unlocked()

    def close_writers_unlocked(self) -> None:
        """``close_writers`` for a caller that holds ``_FORK_LOCK`` (or is a fresh fork)."""
        for fd in self.file_writers.values():
            os.close(fd)
        self.file_writers.clear()
        if self.stdin_writer >= 0:
            os.close(self.stdin_writer)
            self.stdin_writer = -1


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class WarmPool:
    """Keeps up to ``per_shape`` warm sandboxes of each recently used plan shape in this process."""

    def __init__(self, backend: LocalBackend, per_shape: int) -> None:
        self.backend = backend
        self.per_shape = per_shape
        self.uids = (
            SlotPool(backend.config.uid_base + WARM_UID_OFFSET, WARM_UIDS, private_uids=True)
            if backend.as_root
            else None  # not root: every sandbox runs as the caller, as cold ones do
        )
        self._ready: OrderedDict[Shape, list[WarmSandbox]] = OrderedDict()  # least recent first
        self._lock = threading.Lock()
        # The background thread's work: a plan whose shape to fill up; None to stop.
        self._work: queue.SimpleQueue[ExecutionPlan | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._live: set[WarmSandbox] = set()  # launched and not yet ended; under _FORK_LOCK
        self.runs = 0
        """Programs that ran in a warm sandbox so far."""
        _POOLS.add(self)

    def run(self, plan: ExecutionPlan) -> ExecutionResult | None:
        """Run ``plan`` in a warm sandbox of its shape; ``None`` when there is none to take.

        The caller holds the execution slot. Either way a sandbox of this shape is launched in
        the background for the next plan: after this program has run, when it takes a warm
        sandbox (a launch meanwhile would compete with it for the CPU, on its latency path).
        """
        sandbox = self._take(shape(plan))
        try:
            if sandbox is None:
                return None
            if not sandbox.feed(plan):
                self._discard(sandbox)
                return None
            with self._lock:
                self.runs += 1
            try:
                return self.backend.finish(plan, sandbox.launched)
            finally:
                self._forget(sandbox)  # the namespace died with its init: nothing of it is left
        finally:
            self._want(plan)

    def close(self) -> None:
        """Stop launching and tear every waiting sandbox down; later runs start cold."""
        with self._lock:
            self._closed = True
            thread, self._thread = self._thread, None
        self._work.put(None)
        if thread is not None:
            thread.join()

    def waiting(self) -> int:
        """How many warm sandboxes wait now (for tests and the bench)."""
        with self._lock:
            return sum(len(sandboxes) for sandboxes in self._ready.values())

    def shapes(self) -> int:
        """How many plan shapes the pool keeps sandboxes for now."""
        with self._lock:
            return len(self._ready)

    def _take(self, key: Shape) -> WarmSandbox | None:
        taken, dead = None, []
        with self._lock:
            sandboxes = self._ready.get(key, [])
            while sandboxes and taken is None:
                sandbox = sandboxes.pop(0)
                if sandbox.alive():
                    taken = sandbox
                else:
                    dead.append(sandbox)
        for sandbox in dead:
            self._discard(sandbox)
        return taken

    def _want(self, plan: ExecutionPlan) -> None:
        with self._lock:
            if self._closed:
                return  # a run that raced the close: a new thread would launch for no one
            if (key := shape(plan)) in self._ready:
                self._ready.move_to_end(key)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._background, name="sandbox-warm", daemon=True
                )
                self._thread.start()
        self._work.put(plan)

    def _background(self) -> None:
        while (plan := self._work.get()) is not None:
            self._fill(plan)
        # Torn down while this thread lives: its end would kill them from outside (their
        # ``--die-with-parent``) before their inits could be found and ended from the inside.
        with self._lock:
            waiting = [s for sandboxes in self._ready.values() for s in sandboxes]
            self._ready.clear()
        for sandbox in waiting:
            self._discard(sandbox)

    def _fill(self, plan: ExecutionPlan) -> None:
        """Launch sandboxes of the plan's shape up to ``per_shape``."""
        key = shape(plan)
        with self._lock:
            missing = self.per_shape - len(self._ready.get(key, []))
        for _ in range(missing):
            try:
                sandbox = self._launch(plan)
            except Exception:
                log.exception("could not start a warm sandbox for %s", plan.language.code)
                break
            with self._lock:
                self._ready.setdefault(key, []).append(sandbox)
                self._ready.move_to_end(key)
                evicted = []
                while len(self._ready) > MAX_SHAPES:
                    evicted += self._ready.popitem(last=False)[1]
            for old in evicted:
                self._discard(old)

    def _launch(self, plan: ExecutionPlan) -> WarmSandbox:
        with _FORK_LOCK:  # a fork now would copy descriptors not yet registered
            sandbox = self._launch_unlocked(plan)
            self._live.add(sandbox)
        return sandbox

    def _launch_unlocked(self, plan: ExecutionPlan) -> WarmSandbox:
        lease = contextlib.ExitStack()
        pipes: dict[str, tuple[int, int]] = {}
        try:
            uid = lease.enter_context(self.uids.lease()) if self.uids is not None else None
            for name in (*plan.files, STDIN):
                pipes[name] = os.pipe()
            readers = {name: read_end for name, (read_end, _) in pipes.items()}
            stdin_reader = readers.pop(STDIN)
            launched = self.backend.launch(plan, uid, file_fds=readers, stdin_fd=stdin_reader)
        except BaseException:
            for _, write_end in pipes.values():
                os.close(write_end)
            lease.close()
            raise
        finally:
            for read_end, _ in pipes.values():
                os.close(read_end)  # the chain holds its own copies
        writers = {name: write_end for name, (_, write_end) in pipes.items()}
        stdin_writer = writers.pop(STDIN)
        return WarmSandbox(launched, writers, stdin_writer, lease)

    def _discard(self, sandbox: WarmSandbox) -> None:
        """End a sandbox that will run nothing: its init first, then its pipes, guard and uid."""
        abandon(sandbox.launched.process, sandbox.launched.channels, limits=self.backend.limits)
        sandbox.close_writers()
        sandbox.launched.memory.close()
        self._forget(sandbox)
        # An init whose bubblewrap was killed before it reported it: waited for, since no later
        # call may come to reap it (a pool being closed).
        reap_adopted(wait_s=ADOPTED_EXIT_SECONDS)

    def _forget(self, sandbox: WarmSandbox) -> None:
        """The sandbox has ended: free its uid and stop tracking it."""
        with _FORK_LOCK:
            sandbox.uid_lease.close()
            self._live.discard(sandbox)

    def _forget_after_fork(self) -> None:
        """In a forked child: the sandboxes and the thread are the parent's; drop our copies.

        Only descriptors are closed: the memory guards (cgroups), the processes and the uids
        stay the parent's to end and free (closing this copy of a uid's socket frees nothing).
        """
        for sandbox in self._live:
            sandbox.close_writers_unlocked()
            sandbox.launched.channels.close()
            sandbox.uid_lease.close()
        self._live.clear()
        self._ready.clear()
        self._lock = threading.Lock()
        self._work = queue.SimpleQueue()
        self._thread = None


_POOLS: weakref.WeakSet[WarmPool] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for pool in list(_POOLS):
        pool._forget_after_fork()
    _FORK_LOCK.release()


def close_all_pools() -> None:
    """End every pool's waiting sandboxes from the inside; runs when the interpreter exits.

    Left alone, they would be orphaned when this process ends and only then die (bubblewrap's
    ``--die-with-parent``): a subreaper above it (a process supervisor, a test runner that runs
    ``reflectseq run``) would adopt them and, reaping only the children it knows, keep them as
    zombies. A process that ends without finalizing (``os._exit``) calls it first.
    """
    for pool in list(_POOLS):
        pool.close()


atexit.register(close_all_pools)
os.register_at_fork(
    before=_FORK_LOCK.acquire,
    after_in_parent=_FORK_LOCK.release,
    after_in_child=_after_fork_in_child,
)


def attach_warm_pool(backend: LocalBackend, per_shape: int) -> WarmPool:
    """Give ``backend`` warm starts (replacing none it already has)."""
    if backend.warm is None:
        backend.warm = WarmPool(backend, per_shape)
    return backend.warm
