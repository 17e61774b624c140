"""The local backend: bubblewrap on this host, with rlimits, per-slot uids and a memory bound.

Layers, outermost first:

1. (cgroup hosts) a shell that moves itself into the execution's cgroup (v2, or the v1 memory
   controller); elsewhere a watchdog thread bounds the memory from outside (``memory``);
2. ``setpriv`` to the slot's private host uid, so RLIMIT_NPROC caps this execution alone and
   nothing of the worker (its files, its processes) is reachable;
3. ``bwrap``: new user, PID, network, IPC and UTS namespaces, read-only /usr and /etc, size-capped
   tmpfs as /work, /tmp and /dev/shm and nothing else writable, all capabilities dropped, a new
   session, a cleared environment; it dies with its parent, and with it the PID namespace and
   every process inside;
4. a dash init, PID 1 of the namespace: it sets the rlimits (CPU seconds, file size, open files,
   processes, no core dumps, and address space for runtimes that tolerate it; soft and hard, so
   nothing inside can raise them again) and runs the program as its child.

Every layer is an ``exec`` of the next, so the worker spawns with ``vfork``: dropping the uid with
``Popen(user=...)`` or applying limits in ``preexec_fn`` would make CPython ``fork`` the whole
worker instead, which costs more than bubblewrap itself.

Files enter the sandbox through memfds (``bwrap --file``), so nothing is written on the host. A
language with a compile step runs both steps in one sandbox through a small bash driver, a child
of the init, that reports the compiler's exit code on a status pipe; the supervisor times the two
steps apart.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from reflectseq.enums import ExecutionStatus
from reflectseq.languages import Language
from reflectseq.sandbox.memory import (
    MemoryEnforcement,
    MemoryGuard,
    MemoryMechanism,
    choose_mechanism,
)
from reflectseq.sandbox.models import ExecutionResult
from reflectseq.sandbox.plan import ExecutionPlan
from reflectseq.sandbox.reaping import become_child_subreaper, launch, reap_adopted
from reflectseq.sandbox.seccomp import SeccompUnavailable, filter_program
from reflectseq.sandbox.slots import SlotPool
from reflectseq.sandbox.supervisor import Channel, Channels, OutputLimits, Supervised, supervise
from reflectseq.sandbox.verdict import judge

if TYPE_CHECKING:
    from reflectseq.sandbox.warm import WarmPool

log = logging.getLogger(__name__)

BWRAP = "/usr/bin/bwrap"
SETPRIV = "/usr/bin/setpriv"
DRIVER_SHELL = "/usr/bin/bash"  # compile driver: dash cannot redirect descriptors above 9
INIT_SHELL = "/usr/bin/dash"
SANDBOX_UID = 65534  # "nobody" inside, so tools that look up their user find one
WORK_DIR = "/work"
# The only writable file systems inside, each a tmpfs capped at the scratch size.
SCRATCH_MOUNTS = ("/tmp", WORK_DIR, "/dev/shm")
OPEN_FILES = 1024
MIB = 1024 * 1024
KIB = 1024
SHELL_BLOCK = 512  # dash's unit for ``ulimit -f`` and ``-c``
LIMITS_FAILED = 125  # exit status of the init when the limits cannot be set


@dataclass(frozen=True)
class LocalConfig:
    """Host-level knobs of the local backend (from settings)."""

    scratch_mb: int
    capture_bytes: int
    output_limit_bytes: int
    uid_base: int
    slots: int
    cgroup_parent: Path
    memory_enforcement: MemoryEnforcement = "auto"


def missing_toolchain(language: Language) -> list[str]:
    """Paths the language needs that this host lacks (empty when it can run here)."""
    return [path for path in language.required_paths if not Path(path).exists()]


def install_hint(language: Language) -> str:
    """What to run to make the language available locally."""
    if not language.debian_packages:
        return f"no Debian toolchain; use the docker backend (image {language.docker_image})"
    return "sandbox_images/install-toolchains.sh " + language.code


def driver_script(compile_argv: list[str], run_argv: list[str], fds: dict[Channel, int]) -> str:
    """Bash that compiles with its own pipes, reports the exit code, then runs the program."""
    out, err, status = (
        fds[Channel.COMPILE_STDOUT],
        fds[Channel.COMPILE_STDERR],
        fds[Channel.COMPILE_STATUS],
    )
    closes = f"{out}>&- {err}>&- {status}>&-"
    return (
        f"rc=0; {shlex.join(compile_argv)} </dev/null >&{out} 2>&{err} {closes} || rc=$?\n"
        f'echo "$rc" >&{status}\n'
        f"exec {closes}\n"
        f'[ "$rc" -eq 0 ] || exit "$rc"\n'
        f"{shlex.join(run_argv)}\n"
        "exit $?\n"
    )


def bwrap_argv(
    plan: ExecutionPlan,
    *,
    file_fds: dict[str, int],
    status_fd: int,
    seccomp_fd: int,
    scratch_mb: int,
    command: list[str],
) -> list[str]:
    """The bubblewrap command line for one execution (pure: tested without running it)."""
    argv = [
        BWRAP,
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
        "--uid", str(SANDBOX_UID),
        "--gid", str(SANDBOX_UID),
        "--hostname", "sandbox",
        "--as-pid-1",
        "--die-with-parent",
        "--new-session",
        "--cap-drop", "ALL",
        "--ro-bind", "/usr", "/usr",
        "--symlink", "usr/bin", "/bin",
        "--symlink", "usr/sbin", "/sbin",
        "--symlink", "usr/lib", "/lib",
        "--symlink", "usr/lib64", "/lib64",
        "--ro-bind", "/etc", "/etc",
    ]  # fmt: skip
    for path in plan.language.ro_binds:
        argv += ["--ro-bind-try", path, path]
    argv += ["--dev", "/dev", "--proc", "/proc"]
    for path in SCRATCH_MOUNTS:
        argv += ["--size", str(scratch_mb * MIB), "--tmpfs", path]
    # The new root and /dev are tmpfs of bubblewrap's own, uncapped: nothing may write there.
    # Made read-only before the files are copied into /work (a mount of its own, left
    # writable), so that a warm sandbox, blocked on its first file, has nothing left to mount.
    argv += ["--remount-ro", "/dev", "--remount-ro", "/"]
    directories = sorted({str(p) for name in file_fds for p in PurePosixPath(name).parents} - {"."})
    for directory in directories:
        argv += ["--dir", f"{WORK_DIR}/{directory}"]
    for name, fd in file_fds.items():
        argv += ["--file", str(fd), f"{WORK_DIR}/{name}"]
    argv += ["--chdir", WORK_DIR, "--clearenv"]
    for key, value in plan.env.items():
        argv += ["--setenv", key, value]
    argv += ["--seccomp", str(seccomp_fd), "--json-status-fd", str(status_fd), "--", *command]
    return argv


def ulimit_commands(plan: ExecutionPlan, *, file_size_bytes: int) -> list[str]:
    """dash ``ulimit`` calls for the whole sandbox; each sets the soft and the hard limit."""
    cpu_seconds = math.ceil(plan.compile_timeout + plan.run_timeout) + 1
    commands = [
        f"ulimit -t {cpu_seconds}",
        f"ulimit -f {file_size_bytes // SHELL_BLOCK}",
        f"ulimit -n {OPEN_FILES}",
        f"ulimit -p {plan.language.max_processes}",
        "ulimit -c 0",
    ]
    if plan.language.memory_policy == "address_space":
        commands.append(f"ulimit -v {plan.memory_mb * MIB // KIB}")
    return commands


def init_command(plan: ExecutionPlan, program: list[str], *, file_size_bytes: int) -> list[str]:
    """PID 1 of the namespace: limits first, then the program as a child, whose status it returns.

    The program is a child, not PID 1 itself, because PID 1 ignores signals it sends itself
    (``abort()``, ``kill(getpid())``) and must reap orphans so that none outlive the run. The
    trailing ``exit`` keeps dash from replacing itself with its last command.
    """
    limits = " && ".join(ulimit_commands(plan, file_size_bytes=file_size_bytes))
    script = f'{limits} || exit {LIMITS_FAILED}\n"$@"\nexit $?\n'
    return [INIT_SHELL, "-c", script, "sandbox", *program]


def launcher_argv(procs_file: Path | None, uid: int | None) -> list[str]:
    """What runs before bubblewrap: join the cgroup (as root), then drop to the slot uid.

    Both are ``exec`` chains rather than ``Popen(user=...)``, so that the worker never forks.
    """
    argv = (
        []
        if procs_file is None
        else ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(procs_file)]
    )
    if uid is not None:
        argv += [SETPRIV, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]
    return argv


@contextlib.contextmanager
def _memfds(contents: dict[str, bytes]) -> Iterator[dict[str, int]]:
    fds: dict[str, int] = {}
    try:
        for name, data in contents.items():
            fd = os.memfd_create("reflectseq-sandbox")
            os.write(fd, data)  # memfds take any size in one write
            os.lseek(fd, 0, os.SEEK_SET)
            fds[name] = fd
        yield fds
    finally:
        for fd in fds.values():
            os.close(fd)


@dataclass(frozen=True)
class Launched:
    """A started sandbox chain and what it holds until ``LocalBackend.finish`` (or, for a warm
    sandbox that runs nothing, ``reflectseq.sandbox.warm``) releases it."""

    process: subprocess.Popen[bytes]
    channels: Channels
    memory: MemoryGuard


class LocalBackend:
    """Runs plans under bubblewrap; safe to use from many threads and processes at once."""

    def __init__(self, config: LocalConfig) -> None:
        self.config = config
        self.as_root = os.geteuid() == 0
        self.slots = SlotPool(config.uid_base, config.slots, private_uids=self.as_root)
        self._memory: MemoryMechanism | None = None
        self._installed: set[str] = set()  # language codes whose toolchain was found here
        self.warm: WarmPool | None = None  # sandboxes started ahead, where enabled

    @property
    def memory(self) -> MemoryMechanism:
        """What bounds an execution's memory here, probed on first use (the probe writes to the
        cgroup tree)."""
        if self._memory is None:
            self._memory = choose_mechanism(
                self.config.cgroup_parent,
                enforcement=self.config.memory_enforcement,
                may_write_cgroups=self.as_root
                or os.access(self.config.cgroup_parent.parent, os.W_OK),
            )
        return self._memory

    def execute(self, plan: ExecutionPlan) -> ExecutionResult:
        """Run one plan and judge it."""
        if plan.language.code not in self._installed:
            missing = missing_toolchain(plan.language) + [
                p for p in _HOST_TOOLS if not Path(p).exists()
            ]
            if missing:
                hint = install_hint(plan.language)
                return ExecutionResult(
                    status=ExecutionStatus.TOOLCHAIN_UNAVAILABLE,
                    message=f"{plan.language.name} is not installed here "
                    f"({', '.join(missing)} missing): {hint}",
                )
            self._installed.add(plan.language.code)  # toolchains get installed, not removed
        become_child_subreaper()
        try:
            with self.slots.lease() as uid:
                if self.warm is not None and (result := self.warm.run(plan)) is not None:
                    return result  # a warm start, under a uid of its own (``warm``)
                return self._execute_in_slot(plan, uid)
        finally:
            if adopted := reap_adopted():
                log.warning("reaped %d sandbox init(s) orphaned by a dead bubblewrap", adopted)

    def _execute_in_slot(self, plan: ExecutionPlan, uid: int | None) -> ExecutionResult:
        try:
            with _memfds({**plan.files, "\0stdin": plan.stdin}) as fds:
                stdin_fd = fds.pop("\0stdin")
                launched = self.launch(plan, uid, file_fds=fds, stdin_fd=stdin_fd)
        except SeccompUnavailable as exc:
            return ExecutionResult(status=ExecutionStatus.SANDBOX_ERROR, message=str(exc))
        return self.finish(plan, launched)

    def launch(
        self, plan: ExecutionPlan, uid: int | None, *, file_fds: dict[str, int], stdin_fd: int
    ) -> Launched:
        """Start the sandbox chain of ``plan`` under ``uid``; its files come from ``file_fds``.

        The descriptors are memfds (read at once) for a cold start, or pipes that bubblewrap
        blocks on until their writer closes them for a warm one (``reflectseq.sandbox.warm``):
        either way the memory guard, the seccomp filter and the command line are this one.
        Raises ``SeccompUnavailable`` when the filter cannot be built.
        """
        seccomp_program = filter_program()
        become_child_subreaper()  # per launch: a forked process has lost it
        memory = MemoryGuard(self.memory, plan, SCRATCH_MOUNTS)
        roles = [Channel.STDOUT, Channel.STDERR, Channel.SANDBOX_STATUS]
        if plan.compile is not None:
            roles += [Channel.COMPILE_STDOUT, Channel.COMPILE_STDERR, Channel.COMPILE_STATUS]
        channels = Channels(roles)
        try:
            with _memfds({"\0seccomp": seccomp_program}) as fds:
                seccomp_fd = fds["\0seccomp"]
                command = init_command(
                    plan,
                    self._program(plan, channels.write_fds),
                    file_size_bytes=self.config.scratch_mb * MIB,
                )
                argv = launcher_argv(memory.procs_file, uid) + bwrap_argv(
                    plan,
                    file_fds=file_fds,
                    status_fd=channels.write_fds[Channel.SANDBOX_STATUS],
                    seccomp_fd=seccomp_fd,
                    scratch_mb=self.config.scratch_mb,
                    command=command,
                )
                process = self._spawn(argv, stdin_fd, [*file_fds.values(), seccomp_fd], channels)
            channels.close_write_ends()
        except BaseException:
            channels.close()
            memory.close()
            raise
        return Launched(process, channels, memory)

    def finish(self, plan: ExecutionPlan, launched: Launched) -> ExecutionResult:
        """Supervise a launched sandbox to its end, release what it held, and judge it.

        The memory watchdog (where no cgroup bounds the run) starts here, when the program is
        in, so that a sandbox waiting for its files costs no sampling.
        """
        try:
            launched.memory.start(launched.process.pid)
            supervised = supervise(
                launched.process,
                launched.channels,
                compile_timeout=plan.compile_timeout if plan.compile is not None else None,
                run_timeout=plan.run_timeout,
                limits=self.limits,
            )
            out_of_memory = launched.memory.exceeded()
        finally:
            launched.channels.close()
            launched.memory.close()
        return self._result(plan, supervised, out_of_memory)

    @property
    def limits(self) -> OutputLimits:
        """Per-stream capture and flood limits of every run."""
        return OutputLimits(self.config.capture_bytes, self.config.output_limit_bytes)

    @staticmethod
    def _program(plan: ExecutionPlan, write_fds: dict[Channel, int]) -> list[str]:
        if plan.compile is None:
            return plan.run
        return [DRIVER_SHELL, "-c", driver_script(plan.compile, plan.run, write_fds)]

    @staticmethod
    def _spawn(
        argv: list[str],
        stdin_fd: int,
        inherited_fds: list[int],
        channels: Channels,
    ) -> subprocess.Popen[bytes]:
        # The environment is empty so that nothing of the worker's reaches even bubblewrap's own
        # process (visible as /proc/1/environ inside). No user=, group= or preexec_fn here: any
        # of them makes CPython fork the worker instead of using vfork (see the module docstring).
        passed = [fd for role, fd in channels.write_fds.items() if role not in _STD_ROLES]
        return launch(
            lambda: subprocess.Popen(
                argv,
                stdin=stdin_fd,
                stdout=channels.write_fds[Channel.STDOUT],
                stderr=channels.write_fds[Channel.STDERR],
                pass_fds=(*inherited_fds, *passed),
                env={},
                start_new_session=True,
            )
        )

    @staticmethod
    def _result(
        plan: ExecutionPlan, supervised: Supervised, out_of_memory: bool
    ) -> ExecutionResult:
        compile_step = supervised.compile.to_step() if supervised.compile else None
        run_phase = supervised.run
        if not supervised.sandbox_started:
            return ExecutionResult(
                status=ExecutionStatus.SANDBOX_ERROR,
                message=f"the sandbox did not start: {supervised.setup_stderr.strip()}",
            )
        run_step = run_phase.to_step() if run_phase else None
        flooded = any(p is not None and p.flooded for p in (supervised.compile, run_phase))
        status = judge(
            plan.language.pass_rule,
            compile_step,
            run_step,
            output_exceeded=flooded,
            out_of_memory=out_of_memory,
            source=plan.source,
        )
        return ExecutionResult(status=status, compile=compile_step, run=run_step)


_STD_ROLES = (Channel.STDOUT, Channel.STDERR)
_HOST_TOOLS = (BWRAP, SETPRIV, INIT_SHELL, DRIVER_SHELL)
