"""The seccomp filter of the sandbox: system calls no test program needs fail with EPERM.

Namespaces, a non-root uid and dropped capabilities already make most of these calls fail; the
filter removes the kernel code behind them from reach as well, and closes the ones that work
unprivileged: ``ptrace`` of a process of the same sandbox (which let a program stop the
namespace's init, so that a finished run read as a timeout), reading or writing another process's
memory, the kernel log, keyrings, ``userfaultfd``, ``io_uring``, ``bpf`` and ``perf_event_open``.
Everything else is allowed: the runtimes of the language table (the JVM, node, mono, GHC, Go,
BEAM, Racket) use many system calls, ``clone`` and ``clone3`` among them, and a narrower filter
would have to follow each of their releases. Denied calls return EPERM rather than killing the
process, so that a runtime which probes for a feature falls back as it does on a host without it.

libseccomp (through ``pyseccomp``) compiles the list into classic BPF, which bubblewrap installs
right before it runs the init (``--seccomp FD``); the filter is inherited by every process inside.
"""

from __future__ import annotations

import errno
import os
from functools import lru_cache

# Grouped by what they would give a hostile program; docs/sandbox.md lists the same groups.
DENIED_SYSCALLS: dict[str, tuple[str, ...]] = {
    "other processes' memory and descriptors": (
        "ptrace",
        "process_vm_readv",
        "process_vm_writev",
        "process_madvise",
        "pidfd_getfd",
        "kcmp",
    ),
    "namespaces and mounts": (
        "unshare",
        "setns",
        "mount",
        "umount2",
        "pivot_root",
        "chroot",
        "open_tree",
        "move_mount",
        "fsopen",
        "fsconfig",
        "fsmount",
        "fspick",
        "mount_setattr",
    ),
    "kernel and machine": (
        "kexec_load",
        "kexec_file_load",
        "reboot",
        "init_module",
        "finit_module",
        "delete_module",
        "swapon",
        "swapoff",
        "acct",
        "syslog",
        "iopl",
        "ioperm",
        "quotactl",
        "settimeofday",
        "clock_settime",
        "clock_adjtime",
        "adjtimex",
        "open_by_handle_at",
        "name_to_handle_at",
        "fanotify_init",
    ),
    "large kernel attack surface": (
        "bpf",
        "perf_event_open",
        "userfaultfd",
        "io_uring_setup",
        "io_uring_enter",
        "io_uring_register",
        "keyctl",
        "add_key",
        "request_key",
    ),
}
# personality() may still query (0xffffffff) and pick an execution domain, but not turn off
# address space randomisation or make all readable memory executable.
PERSONALITY_QUERY_BIT = 0x80000000
DENIED_PERSONALITY_FLAGS = (
    0x0040000,  # ADDR_NO_RANDOMIZE
    0x0400000,  # READ_IMPLIES_EXEC
)


class SeccompUnavailable(RuntimeError):
    """libseccomp cannot be loaded on this host, so no filter can be built."""


@lru_cache(maxsize=1)
def filter_program() -> bytes:
    """The compiled filter (classic BPF for this machine's architecture), built once per process.

    Raises :class:`SeccompUnavailable` where libseccomp is missing.
    """
    try:
        # Imported here: it loads libseccomp on import and raises where the library is missing.
        import pyseccomp as seccomp  # noqa: PLC0415
    except (ImportError, RuntimeError) as exc:
        raise SeccompUnavailable(f"libseccomp is not available ({exc})") from exc
    denied = seccomp.ERRNO(errno.EPERM)
    syscall_filter = seccomp.SyscallFilter(seccomp.ALLOW)
    for names in DENIED_SYSCALLS.values():
        for name in names:
            syscall_filter.add_rule(denied, name)
    for flag in DENIED_PERSONALITY_FLAGS:
        mask = flag | PERSONALITY_QUERY_BIT
        syscall_filter.add_rule(
            denied, "personality", seccomp.Arg(0, seccomp.MASKED_EQ, mask, flag)
        )
    with os.fdopen(os.memfd_create("reflectseq-seccomp"), "w+b") as program:
        syscall_filter.export_bpf(program)
        program.seek(0)
        return program.read()


def denied_syscalls() -> list[str]:
    """Every system call the filter denies outright (``personality`` is denied in part)."""
    return [name for names in DENIED_SYSCALLS.values() for name in names]
