"""Slots, kills and reaping touch only what belongs to one run: other processes, even of the same
uid or with other settings, are never disturbed, and nothing a run leaves behind stays a zombie.

These tests use uids of their own, far above the default range, so that sandbox runs of other
processes on the same host are out of their reach.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest

from reflectseq.enums import ExecutionStatus
from reflectseq.sandbox import ExecutionRequest, execute
from reflectseq.sandbox.local import BWRAP, SETPRIV
from reflectseq.sandbox.reaping import become_child_subreaper, is_child_subreaper, reap_adopted
from reflectseq.sandbox.slots import SlotPool
from reflectseq.settings import Settings
from tests.sandbox.conftest import orphans_of

ROOT = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name("slot_runner.py")
UID_BASE = Settings.model_fields["sandbox_uid_base"].default + 50_000
TWO_PROCESS_UIDS = range(UID_BASE, UID_BASE + 2)
FOREIGN_UID = UID_BASE + 10
KILLED_UIDS = range(UID_BASE + 20, UID_BASE + 22)
BARE_SANDBOX = [
    "--unshare-user", "--unshare-pid", "--as-pid-1", "--die-with-parent",
    "--ro-bind", "/", "/", "--proc", "/proc",
]  # fmt: skip
WAIT_SECONDS = 60.0  # generous bounds for a loaded machine; never asserted as a speed

T = TypeVar("T")

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="private slot uids need root")


def wait_for(probe: Callable[[], T | None], what: str) -> T:
    """Poll ``probe`` until it returns something, or fail naming ``what``."""
    deadline = time.monotonic() + WAIT_SECONDS
    while (found := probe()) is None:
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)
    return found


def stat_of(pid: int) -> tuple[str, int] | None:
    """State letter and parent pid of a process (None once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], int(fields[1])


def children_of(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def runs_as(pid: int, uid: int) -> bool:
    """True once every uid of the process (real, effective, saved, filesystem) is ``uid``."""
    status = Path(f"/proc/{pid}/status").read_text()
    return f"Uid:\t{uid}\t{uid}\t{uid}\t{uid}\n" in status


def adopted_zombies() -> list[int]:
    """Zombie children of this process from a PID namespace below its own: dead sandbox inits."""
    depth = len(Path("/proc/self/status").read_text().split("NSpid:")[1].split("\n")[0].split())
    found = []
    for pid in children_of(os.getpid()):
        with contextlib.suppress(OSError):
            status = Path(f"/proc/{pid}/status").read_text()
            nspid = status.split("NSpid:")[1].split("\n")[0].split()
            if "State:\tZ" in status and len(nspid) > depth:
                found.append(pid)
    return found


def orphaned_sandbox_init() -> int:
    """A sandbox's init, still running, whose bubblewrap was killed: ours to reap if we adopt."""
    sandbox = subprocess.Popen([BWRAP, *BARE_SANDBOX, "sleep", "300"])

    def running_init() -> int | None:
        for init in children_of(sandbox.pid):
            if Path(f"/proc/{init}/comm").read_text().strip() == "sleep":
                return init
        return None

    init = wait_for(running_init, "the sandbox's program")
    sandbox.kill()
    assert sandbox.wait() == -signal.SIGKILL
    return init


@pytest.fixture
def uids(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[range], None]]:
    """Point the sandbox settings at a test-owned uid range; afterwards nothing of it is left."""
    used: list[range] = []

    def use(slots: range) -> None:
        monkeypatch.setenv("REFLECTSEQ_SANDBOX_UID_BASE", str(slots.start))
        monkeypatch.setenv("REFLECTSEQ_SANDBOX_CONCURRENCY", str(len(slots)))
        used.append(slots)

    yield use
    for slots in used:
        assert orphans_of(slots) == []


def test_pools_with_other_sizes_never_hand_out_a_held_uid() -> None:
    small = SlotPool(UID_BASE, 2, private_uids=True)
    large = SlotPool(UID_BASE, 3, private_uids=True)
    with small.lease() as first, small.lease() as second, large.lease() as third:
        assert {first, second} == {UID_BASE, UID_BASE + 1}
        assert third == UID_BASE + 2
    with large.lease() as again:  # released on leaving the block
        assert again is not None


def test_a_dead_holder_frees_its_slot() -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from reflectseq.sandbox.slots import SlotPool\n"
            f"with SlotPool({UID_BASE}, 1, private_uids=True).lease():\n"
            "    print('held', flush=True)\n    input()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    pool = SlotPool(UID_BASE, 1, private_uids=True)
    assert pool._try_take() is None
    holder.kill()
    holder.wait()
    with pool.lease() as uid:
        assert uid == UID_BASE


def test_without_private_uids_a_slot_is_a_share_of_this_users_concurrency() -> None:
    """Executions then run as the caller: pools with any uid base draw from the same slots."""
    one = SlotPool(UID_BASE + 30, 1, private_uids=False)
    other = SlotPool(UID_BASE + 40, 1, private_uids=False)
    with one.lease() as uid:
        assert uid is None
        assert other._try_take() is None


@needs_root
def test_processes_with_different_lock_dirs_never_share_a_uid(tmp_path: Path) -> None:
    """Before: each process locked slots in its own directory, both took the same uid, and the
    first to finish killed the other's program by uid (a correct program became runtime_error)."""
    runners = {}
    for name in ("a", "b"):
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "REFLECTSEQ_SANDBOX_UID_BASE": str(TWO_PROCESS_UIDS.start),
            "REFLECTSEQ_SANDBOX_CONCURRENCY": str(len(TWO_PROCESS_UIDS)),
            "REFLECTSEQ_SANDBOX_LOCK_DIR": str(tmp_path / f"locks-{name}"),
        }
        command = [sys.executable, str(RUNNER), str(tmp_path / f"{name}.json"), "6"]
        runners[name] = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True
        )
    for runner in runners.values():
        assert runner.stdout is not None and runner.stdout.readline().strip() == "ready"
    for runner in runners.values():  # both start their programs together
        assert runner.stdin is not None
        runner.stdin.write("go\n")
        runner.stdin.close()
    for runner in runners.values():
        assert runner.wait(timeout=240) == 0
    leases = []
    for name in runners:
        report = json.loads((tmp_path / f"{name}.json").read_text())
        statuses = [result["status"] for result in report["results"]]
        assert statuses == ["passed"] * 6, report["results"]
        leases += [(name, uid, start, end) for uid, start, end in report["held"]]
    assert {uid for _, uid, _, _ in leases} <= set(TWO_PROCESS_UIDS)
    for one, other in itertools.combinations(leases, 2):
        if one[0] != other[0] and one[1] == other[1]:
            assert one[3] <= other[2] or other[3] <= one[2], f"uid shared: {one} {other}"


@needs_root
def test_a_run_leaves_other_processes_of_its_uid_alive(uids: Callable[[range], None]) -> None:
    uids(range(FOREIGN_UID, FOREIGN_UID + 1))
    as_slot_uid = [f"--reuid={FOREIGN_UID}", f"--regid={FOREIGN_UID}", "--clear-groups", "--"]
    foreign = subprocess.Popen([SETPRIV, *as_slot_uid, "sleep", "300"])
    try:
        wait_for(lambda: runs_as(foreign.pid, FOREIGN_UID) or None, "the foreign process's uid")
        code = (
            "import os, sys, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(60)\n"
            "    sys.exit(0)\nprint('parent done')\n"
        )
        result = execute(ExecutionRequest(language="py", code=code))
        assert result.status == ExecutionStatus.PASSED, result
        assert foreign.poll() is None, "the run killed a process it did not start"
    finally:
        foreign.kill()
        foreign.wait()


def test_an_init_orphaned_by_a_dead_bubblewrap_is_reaped(uids: Callable[[range], None]) -> None:
    uids(KILLED_UIDS)
    code = "import time\nprint('started', flush=True)\ntime.sleep(300)\n"
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(execute, ExecutionRequest(language="py", code=code, run_timeout=200))

        def bubblewrap_and_init() -> tuple[int, int] | None:
            """Once the program runs: the launcher (bubblewrap by then) and the init."""
            for pid in children_of(os.getpid()):
                if Path(f"/proc/{pid}/comm").read_text().strip() != "bwrap":
                    continue
                for init in children_of(pid):
                    if children_of(init):
                        return pid, init
            return None

        bubblewrap, init = wait_for(bubblewrap_and_init, "the program to start")
        os.kill(bubblewrap, signal.SIGKILL)  # bubblewrap dies first, as if it had crashed
        result = running.result(timeout=240)
    assert result.status == ExecutionStatus.RUNTIME_ERROR, result
    assert is_child_subreaper()  # so the orphan was ours to reap, not the host init's
    assert stat_of(init) is None, "the orphaned init is still there"
    assert adopted_zombies() == []


def test_the_sweep_reaps_adopted_inits_but_no_child_someone_waits_for() -> None:
    become_child_subreaper()
    tracked = subprocess.Popen(["sh", "-c", "exit 3"])
    init = orphaned_sandbox_init()
    wait_for(lambda: (stat_of(tracked.pid) or ("",))[0] == "Z" or None, "the tracked child's end")
    reaped = 0

    def init_gone() -> bool | None:
        nonlocal reaped
        reaped += reap_adopted()
        return stat_of(init) is None or None

    wait_for(init_gone, "the adopted init to be reaped")
    assert reaped == 1
    assert tracked.wait() == 3  # its status was left to the code that waits for it
    assert adopted_zombies() == []


def test_a_sweep_that_waits_reaps_the_adopted_init_it_kills_in_one_call() -> None:
    # What closing a warm pool does: no later sweep will come for an init killed now.
    become_child_subreaper()
    init = orphaned_sandbox_init()
    # Adopted and still running: a sweep without a wait kills it and leaves it for later.
    wait_for(lambda: init in children_of(os.getpid()) or None, "the init's adoption")
    assert reap_adopted(wait_s=60) == 1
    assert stat_of(init) is None
    assert adopted_zombies() == []
