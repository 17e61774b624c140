"""Per-execution memory cgroups on the cgroup v1 memory controller, for hosts without v2.

Hybrid hierarchies (older systemd hosts, many container and VM images) keep the memory controller
on v1. Its ``memory.limit_in_bytes`` bounds the whole tree of one execution, the pages of its tmpfs
and the kernel memory of its files (inodes, dentries) included, and the ``oom_kill`` counter of
``memory.oom_control`` tells a memory bomb from a crash, as ``memory.events`` does on v2. The
execution cgroups are made below the worker's own memory cgroup, so whatever limit the host puts
on the worker keeps applying to what it runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import uuid
from pathlib import Path

from reflectseq.sandbox.cgroup import CgroupSupport, remove_when_empty

MOUNTINFO = Path("/proc/self/mountinfo")
OWN_CGROUPS = Path("/proc/self/cgroup")
KILL_ROUNDS = 5  # a process may fork while its siblings are killed


def memory_hierarchy(mountinfo: str) -> tuple[Path, str] | None:
    """Mount point and mounted root of the v1 memory controller, from ``/proc/self/mountinfo``."""
    for line in mountinfo.splitlines():
        fields, _, tail = line.partition(" - ")
        parts, extra = fields.split(), tail.split()
        is_cgroup_v1 = len(parts) >= 5 and len(extra) >= 3 and extra[0] == "cgroup"
        if is_cgroup_v1 and "memory" in extra[2].split(","):
            return Path(parts[4]), parts[3]
    return None


def own_memory_cgroup(proc_cgroup: str) -> str | None:
    """This process's memory cgroup path, from ``/proc/self/cgroup`` (``N:memory:/path``)."""
    for line in proc_cgroup.splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return path
    return None


def detect_v1_memory_support(name: str) -> CgroupSupport:
    """Prepare ``name`` below this process's v1 memory cgroup for per-execution children."""
    try:
        hierarchy = memory_hierarchy(MOUNTINFO.read_text())
        own = own_memory_cgroup(OWN_CGROUPS.read_text())
    except OSError as exc:
        return CgroupSupport(None, f"cannot read this process's cgroups: {exc}")
    if hierarchy is None or own is None:
        return CgroupSupport(None, "no cgroup v1 memory controller")
    mount, mounted_root = hierarchy
    relative = own.removeprefix(mounted_root) if mounted_root != "/" else own
    parent = mount / relative.lstrip("/") / name
    try:
        parent.mkdir(exist_ok=True)
    except OSError as exc:
        return CgroupSupport(None, f"cannot prepare {parent}: {exc.strerror or exc}")
    if not os.access(parent / "memory.limit_in_bytes", os.W_OK):
        return CgroupSupport(None, f"{parent}/memory.limit_in_bytes is not writable")
    return CgroupSupport(parent, f"memory.limit_in_bytes per execution under {parent}")


class MemoryCgroupV1:
    """One execution's v1 memory cgroup: created with its limit, read for OOM kills, removed."""

    def __init__(self, parent: Path, *, memory_bytes: int) -> None:
        self.path = parent / f"run-{uuid.uuid4().hex}"
        self.path.mkdir()
        (self.path / "memory.limit_in_bytes").write_text(str(memory_bytes))
        swap = self.path / "memory.memsw.limit_in_bytes"  # memory + swap; absent without swap
        if swap.exists():
            swap.write_text(str(memory_bytes))

    @property
    def procs_file(self) -> Path:
        """Writing a pid here moves that process (and its future children) into the cgroup."""
        return self.path / "cgroup.procs"

    def oom_killed(self) -> bool:
        """True when the kernel killed a process of this execution for exceeding the limit."""
        try:
            lines = (self.path / "memory.oom_control").read_text().splitlines()
        except OSError:
            return False
        counts = dict(line.split() for line in lines if line.count(" ") == 1)
        return int(counts.get("oom_kill", "0")) > 0

    def destroy(self) -> None:
        """Kill whatever is left inside (v1 has no ``cgroup.kill``) and remove the cgroup."""
        for _ in range(KILL_ROUNDS):
            try:
                pids = [int(p) for p in self.procs_file.read_text().split()]
            except OSError:
                break
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        remove_when_empty(self.path)
