"""Per-execution cgroups (v2): a hard memory ceiling and a process cap, where the host allows.

rlimits are per process (RLIMIT_AS) or per uid (RLIMIT_NPROC); a cgroup bounds the whole tree of
one execution and counts OOM kills, so a memory bomb is reported as ``memory_exceeded`` rather than
as a crash. Many hosts (hybrid v1 hierarchies, containers without a delegated subtree) offer no
writable cgroup v2 tree; the sandbox then runs on rlimits and per-slot uids alone, and
``reflectseq sandbox doctor`` says so.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

REQUIRED_CONTROLLERS = ("memory", "pids")
RMDIR_ATTEMPTS = 50
RMDIR_PAUSE_SECONDS = 0.01


@dataclass(frozen=True)
class CgroupSupport:
    """Whether per-execution cgroups can be used, and why not if not."""

    parent: Path | None
    reason: str

    @property
    def available(self) -> bool:
        return self.parent is not None


def _read_words(path: Path) -> set[str]:
    try:
        return set(path.read_text().split())
    except OSError:
        return set()


def detect_cgroup_support(parent: Path) -> CgroupSupport:
    """Prepare ``parent`` (a cgroup v2 directory) for per-execution children, if possible."""
    hierarchy_root = parent.parent
    if not (hierarchy_root / "cgroup.controllers").exists():
        return CgroupSupport(None, f"no cgroup v2 hierarchy at {hierarchy_root} (v1 or hybrid)")
    missing = set(REQUIRED_CONTROLLERS) - _read_words(hierarchy_root / "cgroup.controllers")
    if missing:
        return CgroupSupport(None, f"controllers not delegated: {', '.join(sorted(missing))}")
    try:
        parent.mkdir(exist_ok=True)
        enabled = _read_words(parent / "cgroup.subtree_control")
        wanted = [c for c in REQUIRED_CONTROLLERS if c not in enabled]
        if wanted:
            (parent / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in wanted))
    except OSError as exc:
        return CgroupSupport(None, f"cannot prepare {parent}: {exc.strerror or exc}")
    return CgroupSupport(parent, f"memory.max and pids.max per execution under {parent}")


class ExecutionCgroup:
    """One execution's cgroup: created with limits, read for OOM kills, killed and removed."""

    def __init__(self, parent: Path, *, memory_bytes: int | None, max_processes: int) -> None:
        self.path = parent / f"run-{uuid.uuid4().hex}"
        self.path.mkdir()
        if memory_bytes is not None:
            (self.path / "memory.max").write_text(str(memory_bytes))
            swap = self.path / "memory.swap.max"
            if swap.exists():
                swap.write_text("0")
        (self.path / "pids.max").write_text(str(max_processes))

    @property
    def procs_file(self) -> Path:
        """Writing a pid here moves that process (and its future children) into the cgroup."""
        return self.path / "cgroup.procs"

    def oom_killed(self) -> bool:
        """True when the kernel killed a process of this execution for exceeding memory.max."""
        try:
            lines = (self.path / "memory.events").read_text().splitlines()
        except OSError:
            return False
        counts = dict(line.split() for line in lines if line.count(" ") == 1)
        return int(counts.get("oom_kill", "0")) > 0

    def destroy(self) -> None:
        """Kill whatever is left inside and remove the cgroup."""
        kill = self.path / "cgroup.kill"
        with contextlib.suppress(OSError):
            kill.write_text("1")
        remove_when_empty(self.path)


def remove_when_empty(path: Path) -> None:
    """Remove a cgroup whose processes were just killed (the kernel empties it shortly after)."""
    for _ in range(RMDIR_ATTEMPTS):
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(RMDIR_PAUSE_SECONDS)
