"""Watches one sandboxed process: reads every pipe concurrently, enforces deadlines and output caps.

The sandbox reports through pipes created here: the program's stdout and stderr, the compile
step's stdout and stderr, a status pipe on which the in-sandbox driver writes the compiler's exit
code, and bubblewrap's JSON status. One selector loop serves them all, so a program that floods
one stream can never block on a full pipe while we wait on another; a pidfd tells us when the
process ends. The run is ended through a pidfd on its namespace's init (``reaping``): the
sandbox runs in its own PID namespace, which dies with that init, and the init dies with the
launcher.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass, field
from enum import StrEnum

from reflectseq.sandbox.capture import BoundedCapture
from reflectseq.sandbox.models import StepResult
from reflectseq.sandbox.reaping import ADOPTED_EXIT_SECONDS, NamespaceInit

READ_CHUNK = 65536
DRAIN_GRACE_SECONDS = 2.0
MAX_SIGNAL = 64


class Channel(StrEnum):
    """What a pipe from the sandbox carries."""

    STDOUT = "stdout"
    STDERR = "stderr"
    COMPILE_STDOUT = "compile_stdout"
    COMPILE_STDERR = "compile_stderr"
    COMPILE_STATUS = "compile_status"
    SANDBOX_STATUS = "sandbox_status"


@dataclass(frozen=True)
class OutputLimits:
    """``capture_bytes`` are kept per stream; a stream beyond ``flood_bytes`` ends the process."""

    capture_bytes: int
    flood_bytes: int


@dataclass
class Phase:
    """The compile step or the run step as observed from outside."""

    started: float
    limits: OutputLimits
    stdout: BoundedCapture = field(init=False)
    stderr: BoundedCapture = field(init=False)
    ended: float | None = None
    exit_code: int | None = None
    signal: int | None = None
    timed_out: bool = False
    flooded: bool = False

    def __post_init__(self) -> None:
        self.stdout = BoundedCapture(self.limits.capture_bytes)
        self.stderr = BoundedCapture(self.limits.capture_bytes)

    def set_exit_status(self, status: int | None) -> None:
        """Record a shell-style exit status: 128+N means the process died of signal N."""
        if status is None:
            return
        if status < 0:
            self.signal = -status
        elif 128 < status <= 128 + MAX_SIGNAL:
            self.exit_code, self.signal = status, status - 128
        else:
            self.exit_code = status

    def to_step(self) -> StepResult:
        """The public shape of this phase."""
        ended = self.ended if self.ended is not None else time.monotonic()
        return StepResult(
            exit_code=self.exit_code,
            signal=self.signal,
            stdout=self.stdout.text(),
            stderr=self.stderr.text(),
            duration=round(ended - self.started, 4),
            truncated=self.stdout.truncated or self.stderr.truncated,
            timed_out=self.timed_out,
        )


@dataclass
class Supervised:
    """Everything observed about one sandbox process."""

    compile: Phase | None
    run: Phase | None
    sandbox_started: bool
    setup_stderr: str


class Channels:
    """The pipes between supervisor and sandbox, created before the process is spawned."""

    def __init__(self, roles: list[Channel]) -> None:
        self.read_fds: dict[Channel, int] = {}
        self.write_fds: dict[Channel, int] = {}
        for role in roles:
            read_end, write_end = os.pipe()
            self.read_fds[role] = read_end
            self.write_fds[role] = write_end

    def close_write_ends(self) -> None:
        """After spawning, only the child may hold the write ends, or EOF would never come."""
        for fd in self.write_fds.values():
            os.close(fd)
        self.write_fds.clear()

    def close(self) -> None:
        """Release every pipe end still held."""
        self.close_write_ends()
        for fd in self.read_fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self.read_fds.clear()


_CHILD_PID = re.compile(rb'"child-pid"\s*:\s*(\d+)')


class _Watch:
    """State of the selector loop of one process."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        *,
        compile_timeout: float | None,
        run_timeout: float,
        limits: OutputLimits,
    ) -> None:
        self.process = process
        self.limits = limits
        self.run_timeout = run_timeout
        now = time.monotonic()
        self.compile = Phase(now, limits) if compile_timeout is not None else None
        self.run = None if self.compile else Phase(now, limits)
        self.setup = BoundedCapture(limits.capture_bytes)
        self.deadline = now + (compile_timeout if compile_timeout is not None else run_timeout)
        self.killed_at: float | None = None
        self.escalated_at: float | None = None
        self.exited_at: float | None = None
        self.status = bytearray()
        self.sandbox_status = bytearray()
        self.init: NamespaceInit | None = None

    @property
    def current(self) -> Phase:
        phase = self.run or self.compile
        assert phase is not None
        return phase

    def kill(self) -> None:
        """Kill the sandbox from the inside out.

        Killing the namespace's first process tears the namespace down and lets bubblewrap reap
        it and exit normally; killing bubblewrap first would orphan that process (to us, the
        subreaper, see ``reaping``). Before bubblewrap has reported it, only the launcher's
        process group is ours to kill.
        """
        if self.killed_at is not None:
            return
        self.killed_at = time.monotonic()
        if self.init is not None:
            self.init.kill()
        else:
            self.kill_group()

    def kill_group(self) -> None:
        """SIGKILL the launcher's process group (ours while the launcher is not reaped)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def kill_launcher(self) -> None:
        """Last resort when the sandbox does not end after its first process was killed."""
        self.escalated_at = time.monotonic()
        self.kill_group()

    def give_up_at(self) -> float:
        """When to stop waiting: the phase deadline, or a short drain after the process ended."""
        if self.exited_at is not None:
            return self.exited_at + DRAIN_GRACE_SECONDS
        if self.escalated_at is not None:
            return self.escalated_at + DRAIN_GRACE_SECONDS
        if self.killed_at is not None:
            return self.killed_at + DRAIN_GRACE_SECONDS
        return self.deadline

    def on_data(self, role: Channel, data: bytes, now: float) -> None:
        if role is Channel.COMPILE_STATUS:
            self.status += data
            if b"\n" in self.status:
                self.finish_compile(now)
            return
        if role is Channel.SANDBOX_STATUS:
            self.sandbox_status += data
            if self.init is None and (child := _CHILD_PID.search(self.sandbox_status)):
                self.init = NamespaceInit.find(int(child.group(1)), self.process.pid)
            return
        capture = self._capture_for(role)
        capture.feed(data)
        if capture.total > self.limits.flood_bytes and self.killed_at is None:
            self.current.flooded = True
            self.kill()

    def _capture_for(self, role: Channel) -> BoundedCapture:
        if role in (Channel.COMPILE_STDOUT, Channel.COMPILE_STDERR):
            assert self.compile is not None
            return self.compile.stdout if role is Channel.COMPILE_STDOUT else self.compile.stderr
        if self.run is None:
            return self.setup  # bubblewrap's own complaints before the program starts
        return self.run.stdout if role is Channel.STDOUT else self.run.stderr

    def finish_compile(self, now: float) -> None:
        assert self.compile is not None
        if self.compile.ended is not None:
            return
        self.compile.ended = now
        text = self.status.decode(errors="replace").strip()
        if text.lstrip("-").isdigit():
            self.compile.set_exit_status(int(text))
        if self.compile.exit_code == 0 and self.killed_at is None:
            self.run = Phase(now, self.limits)
            self.deadline = now + self.run_timeout

    def on_exit(self, now: float) -> None:
        self.exited_at = now
        returncode = self.process.wait()
        if self.run is not None and self.run.ended is None:
            self.run.ended = now
            if not (self.run.timed_out or self.run.flooded):
                self.run.set_exit_status(returncode)

    def on_deadline(self) -> None:
        self.current.timed_out = True
        self.kill()


def supervise(
    process: subprocess.Popen[bytes],
    channels: Channels,
    *,
    compile_timeout: float | None,
    run_timeout: float,
    limits: OutputLimits,
) -> Supervised:
    """Follow ``process`` until it has ended and its pipes are drained; kill it on any limit."""
    watch = _Watch(process, compile_timeout=compile_timeout, run_timeout=run_timeout, limits=limits)
    pidfd = os.pidfd_open(process.pid)
    selector = selectors.DefaultSelector()
    try:
        selector.register(pidfd, selectors.EVENT_READ, None)
        for role, fd in channels.read_fds.items():
            os.set_blocking(fd, False)
            selector.register(fd, selectors.EVENT_READ, role)
        _loop(watch, selector, pidfd, channels)
    finally:
        selector.close()
        os.close(pidfd)
        channels.close()
        if watch.exited_at is None:
            watch.kill_launcher()
            process.wait()
        if watch.init is not None:
            watch.init.kill()  # a no-op once bubblewrap has reaped it, as it normally has
            watch.init.reap(ADOPTED_EXIT_SECONDS)
            watch.init.close()
    if watch.compile is not None and watch.compile.ended is None:
        watch.finish_compile(watch.exited_at or time.monotonic())
    # bubblewrap reports an exit code only for a command it got to exec; without one, the
    # sandbox failed to set up (uid map, mounts, seccomp), unless it was ours to kill or
    # bubblewrap itself was killed (a setup failure is an exit, not a signal).
    killed_from_outside = process.returncode is not None and process.returncode < 0
    started = (
        b'"exit-code"' in watch.sandbox_status or watch.killed_at is not None or killed_from_outside
    )
    setup_stderr = watch.setup.text()
    if not started and watch.run is not None:
        setup_stderr += watch.run.stderr.text()
    return Supervised(
        compile=watch.compile,
        run=watch.run,
        sandbox_started=started,
        setup_stderr=setup_stderr,
    )


def abandon(process: subprocess.Popen[bytes], channels: Channels, *, limits: OutputLimits) -> None:
    """End a launched sandbox that will run nothing (a warm one nobody takes), inside out.

    bubblewrap reports its namespace's init as soon as it has cloned it, long before it reads
    the program's files, so the init is found on the status pipe and killed through its pidfd,
    as at a run's deadline; only a sandbox that reported nothing within the grace is ended by its
    launcher's process group. The caller closes the file pipes after this, not before: on
    end-of-file bubblewrap would go on with empty files.
    """
    watch = _Watch(process, compile_timeout=None, run_timeout=0.0, limits=limits)
    status_fd = channels.read_fds.get(Channel.SANDBOX_STATUS)
    give_up = time.monotonic() + DRAIN_GRACE_SECONDS
    poller = select.poll()  # not select(): a busy worker's descriptors pass FD_SETSIZE (1024)
    if status_fd is not None:
        poller.register(status_fd, select.POLLIN)
    while status_fd is not None and watch.init is None and (left := give_up - time.monotonic()) > 0:
        if not poller.poll(left * 1000) or not (data := os.read(status_fd, READ_CHUNK)):
            break
        watch.on_data(Channel.SANDBOX_STATUS, data, time.monotonic())
    watch.kill()
    process.wait()
    if watch.init is not None:
        watch.init.reap(ADOPTED_EXIT_SECONDS)
        watch.init.close()
    channels.close()


def _loop(watch: _Watch, selector: selectors.BaseSelector, pidfd: int, channels: Channels) -> None:
    while len(selector.get_map()) > 0:
        now = time.monotonic()
        if now >= watch.give_up_at():
            if watch.exited_at is not None:
                return  # something outside the namespace still holds a pipe: stop draining
            if watch.killed_at is None:
                watch.on_deadline()
            elif watch.escalated_at is None:
                watch.kill_launcher()
            else:
                return
            continue
        events = selector.select(watch.give_up_at() - now)
        # The exit is handled after the data of the same round: whatever the driver wrote before
        # the program ended (the compiler's status above all) must be seen first.
        exited = False
        for key, _ in events:
            if key.fd == pidfd:
                exited = True
                continue
            _read(watch, selector, channels, key.fd, key.data)
        if exited:
            selector.unregister(pidfd)
            watch.on_exit(time.monotonic())


def _read(
    watch: _Watch, selector: selectors.BaseSelector, channels: Channels, fd: int, role: Channel
) -> None:
    try:
        data = os.read(fd, READ_CHUNK)
    except BlockingIOError:
        return
    now = time.monotonic()
    if data:
        watch.on_data(role, data, now)
        return
    selector.unregister(fd)
    os.close(fd)
    del channels.read_fds[role]
    if role is Channel.COMPILE_STATUS:
        watch.finish_compile(now)
