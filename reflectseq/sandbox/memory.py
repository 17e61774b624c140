"""What bounds the memory of one execution on this host, and the guard that applies it.

Every execution gets a tree-wide memory budget, whatever its language's ``memory_policy`` adds
per process (RLIMIT_AS, heap flags). The mechanism is the first of these that the host allows:

1. a cgroup v2 (``memory.max``, with ``pids.max``), where a v2 tree is delegated to us;
2. a cgroup v1 memory controller (``memory.limit_in_bytes``), where that one is writable;
3. a watchdog that samples the execution's processes and scratch tmpfs (``memory_watch``).

The kernel's limits come first because they cannot be outrun; the watchdog works anywhere.
``sandbox_memory_enforcement = "watchdog"`` skips the cgroups (for hosts whose cgroup files accept
limits without enforcing them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from reflectseq.sandbox.cgroup import ExecutionCgroup, detect_cgroup_support
from reflectseq.sandbox.cgroup_v1 import MemoryCgroupV1, detect_v1_memory_support
from reflectseq.sandbox.memory_watch import SAMPLE_SECONDS, MemoryWatchdog
from reflectseq.sandbox.plan import ExecutionPlan

MemoryEnforcement = Literal["auto", "watchdog"]
MechanismName = Literal["cgroup v2", "cgroup v1", "watchdog"]
MIB = 1024 * 1024
HEADROOM_MB = 512  # non-heap memory of managed runtimes on top of their heap flag


@dataclass(frozen=True)
class MemoryMechanism:
    """The mechanism in force on this host, why, and the cgroup parent it uses if any."""

    name: MechanismName
    detail: str
    parent: Path | None = None


def choose_mechanism(
    cgroup_parent: Path, *, enforcement: MemoryEnforcement, may_write_cgroups: bool
) -> MemoryMechanism:
    """Probe the host (this writes to the cgroup tree) and pick the first mechanism it allows."""
    if enforcement == "watchdog":
        why = "sandbox_memory_enforcement is watchdog"
    elif not may_write_cgroups:
        why = "no write access to the cgroup tree"
    else:
        v2 = detect_cgroup_support(cgroup_parent)
        if v2.parent is not None:
            return MemoryMechanism("cgroup v2", v2.reason, v2.parent)
        v1 = detect_v1_memory_support(cgroup_parent.name)
        if v1.parent is not None:
            return MemoryMechanism("cgroup v1", v1.reason, v1.parent)
        why = f"cgroup v2: {v2.reason}; cgroup v1: {v1.reason}"
    return MemoryMechanism(
        "watchdog",
        f"PSS of the process tree plus its tmpfs, sampled every {SAMPLE_SECONDS} s ({why})",
    )


def memory_budget_mb(plan: ExecutionPlan) -> int:
    """The tree-wide budget: the request's, plus headroom for runtimes limited by a heap flag or
    not at all (their heap is only part of what they map)."""
    headroom = 0 if plan.language.memory_policy == "address_space" else HEADROOM_MB
    return plan.memory_mb + headroom


class MemoryGuard:
    """One execution's memory bound: a cgroup that the launcher joins before bubblewrap starts,
    or a watchdog started on the launcher once it runs."""

    def __init__(
        self, mechanism: MemoryMechanism, plan: ExecutionPlan, scratch_mounts: tuple[str, ...]
    ) -> None:
        budget = memory_budget_mb(plan) * MIB
        self._cgroup: ExecutionCgroup | MemoryCgroupV1 | None = None
        self._watchdog: MemoryWatchdog | None = None
        if mechanism.name == "cgroup v2" and mechanism.parent is not None:
            self._cgroup = ExecutionCgroup(
                mechanism.parent,
                memory_bytes=budget,
                max_processes=plan.language.max_processes,
            )
        elif mechanism.name == "cgroup v1" and mechanism.parent is not None:
            self._cgroup = MemoryCgroupV1(mechanism.parent, memory_bytes=budget)
        else:
            self._watchdog = MemoryWatchdog(budget, scratch_mounts)

    @property
    def procs_file(self) -> Path | None:
        """The cgroup file the launcher writes its pid to, if a cgroup is used."""
        return self._cgroup.procs_file if self._cgroup is not None else None

    def start(self, launcher_pid: int) -> None:
        """Begin watching, once the launcher runs (cgroups need nothing more)."""
        if self._watchdog is not None:
            self._watchdog.start(launcher_pid)

    def exceeded(self) -> bool:
        """True when the execution was killed for going over its budget (once it has ended,
        before ``close``)."""
        if self._watchdog is not None:
            return self._watchdog.exceeded
        return self._cgroup is not None and self._cgroup.oom_killed()

    def close(self) -> None:
        """Stop the watchdog; kill what is left in the cgroup and remove it."""
        if self._watchdog is not None:
            self._watchdog.stop()
        if self._cgroup is not None:
            self._cgroup.destroy()
