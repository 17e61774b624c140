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

Readiness = Literal["ready", "missing", "docker-only"]
PROBE_TIMEOUT_SECONDS = 10


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


def _probe_bubblewrap(uid: int | None) -> Protection:
    argv = [BWRAP, "--unshare-all", "--unshare-user", "--ro-bind", "/usr", "/usr",
            "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib",
            "--symlink", "usr/lib64", "/lib64", "--", "/usr/bin/true"]  # fmt: skip
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
        "user, pid, network (none), ipc, uts; read-only /usr and /etc; tmpfs /work",
    )


def protections(backend: LocalBackend) -> list[Protection]:
    """The isolation layers of the local backend and whether each is active on this host."""
    uid = backend.config.uid_base if backend.as_root else None
    last_uid = backend.config.uid_base + backend.slots.size - 1
    cgroups = backend.cgroups
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
        Protection("cgroup v2 memory.max / pids.max", cgroups.available, cgroups.reason),
    ]


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
