"""What the sandbox can do on this host: active protections and which languages are ready.

Run by ``reflectseq sandbox doctor``; it actually starts a sandbox (rather than only looking for
binaries) because user namespaces can be present in the kernel and still be forbidden by policy.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from typing import Literal

from reflectseq.languages import Language, load_languages
from reflectseq.sandbox.local import (
    BWRAP,
    INIT_SHELL,
    LocalBackend,
    install_hint,
    missing_toolchain,
)
from reflectseq.sandbox.memory import MemoryMechanism
from reflectseq.sandbox.memory_watch import MemoryWatchdog
from reflectseq.sandbox.seccomp import SeccompUnavailable, denied_syscalls, filter_program

Readiness = Literal["ready", "missing", "docker-only"]
PROBE_TIMEOUT_SECONDS = 10
WATCHDOG_PROBE_SECONDS = 1
_PROBE_MOUNTS = ("--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin",
                 "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64")  # fmt: skip


@dataclass(frozen=True)
class Protection:
    """One layer of isolation and whether it is in force here."""

    name: str
    active: bool
    detail: str


@dataclass(frozen=True)
class LanguageReadiness:
    """Whether a language runs locally here, and how to make it run if not."""

    code: str
    name: str
    readiness: Readiness
    detail: str


@dataclass(frozen=True)
class MemoryBound:
    """What bounds one language's memory here; ``active`` is False when nothing does."""

    code: str
    active: bool
    detail: str


def _probe_bubblewrap(uid: int | None) -> Protection:
    argv = [BWRAP, "--unshare-all", "--unshare-user", *_PROBE_MOUNTS, "--", "/usr/bin/true"]
    try:
        probe = subprocess.run(
            argv, capture_output=True, env={}, user=uid, timeout=PROBE_TIMEOUT_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Protection("namespaces (bubblewrap)", False, f"cannot start {BWRAP}: {exc}")
    if probe.returncode != 0:
        reason = probe.stderr.decode(errors="replace").strip()
        return Protection("namespaces (bubblewrap)", False, reason or "bubblewrap failed")
    return Protection(
        "namespaces (bubblewrap)",
        True,
        "user, pid, network (none), ipc, uts; read-only /usr and /etc; capped tmpfs /work, "
        "/tmp and /dev/shm, nothing else writable",
    )


def memory_works(backend: LocalBackend) -> bool:
    """Whether the backend's memory mechanism bounds executions here (the watchdog is probed)."""
    return backend.memory.name != "watchdog" or watchdog_sees_sandboxes()


def protections(backend: LocalBackend, *, memory_bounded: bool) -> list[Protection]:
    """The isolation layers of the local backend and whether each is active on this host."""
    uid = backend.config.uid_base if backend.as_root else None
    last_uid = backend.config.uid_base + backend.slots.size - 1
    memory = backend.memory
    return [
        _probe_bubblewrap(uid),
        Protection(
            "per-execution uid",
            backend.as_root,
            f"host uids {backend.config.uid_base}..{last_uid}"
            if backend.as_root
            else "not running as root: executions share this user's uid and process limit",
        ),
        Protection(
            "rlimits",
            os.path.exists(INIT_SHELL),
            "CPU time, file size, open files, processes, core dumps; address space per language"
            if os.path.exists(INIT_SHELL)
            else f"{INIT_SHELL} missing (dash), which sets them inside the sandbox",
        ),
        Protection(f"memory limit ({memory.name})", memory_bounded, memory.detail),
        _seccomp_protection(),
    ]


def _seccomp_protection() -> Protection:
    try:
        filter_program()
    except SeccompUnavailable as exc:
        return Protection("seccomp filter", False, f"{exc}: every execution is refused")
    denied = denied_syscalls()
    shown = ", ".join(denied[:6])
    return Protection("seccomp filter", True, f"{len(denied)} system calls denied ({shown}, ...)")


def watchdog_sees_sandboxes() -> bool:
    """Start a sandbox and check that the memory watchdog can read what it uses (it may not,
    where ``/proc`` of other users' processes is hidden)."""
    argv = [BWRAP, "--unshare-all", "--unshare-user", "--die-with-parent", *_PROBE_MOUNTS,
            "--proc", "/proc", "--", "/usr/bin/sleep", str(WATCHDOG_PROBE_SECONDS)]  # fmt: skip
    watchdog = MemoryWatchdog(budget_bytes=2**62, scratch_mounts=())
    try:
        process = subprocess.Popen(argv, env={}, stderr=subprocess.DEVNULL)
    except OSError:
        return False
    watchdog.start(process.pid)
    process.wait()
    watchdog.stop()
    return watchdog.peak_bytes > 0


def memory_bounds(mechanism: MemoryMechanism, works: bool) -> list[MemoryBound]:
    """Per language: the per-process limit its memory policy adds, and the tree-wide one."""
    tree = mechanism.name if works else ""
    bounds = []
    for language in load_languages().values():
        per_process = {
            "address_space": "RLIMIT_AS",
            "runtime": "heap flag",
            "none": "",
        }[language.memory_policy]
        parts = [part for part in (per_process, tree) if part]
        detail = " + ".join(parts) if parts else "NONE"
        bounds.append(MemoryBound(language.code, bool(tree), detail))
    return bounds


def language_readiness(language: Language) -> LanguageReadiness:
    """Ready, missing (with the install command) or only runnable in its docker image."""
    missing = missing_toolchain(language)
    if not missing:
        return LanguageReadiness(language.code, language.name, "ready", "")
    if not language.debian_packages:
        return LanguageReadiness(
            language.code, language.name, "docker-only", install_hint(language)
        )
    packages = " ".join(language.debian_packages)
    return LanguageReadiness(
        language.code,
        language.name,
        "missing",
        f"apt-get install -y {packages}  (or {install_hint(language)})",
    )


def languages_readiness() -> list[LanguageReadiness]:
    """Readiness of every language of the table."""
    return [language_readiness(language) for language in load_languages().values()]
