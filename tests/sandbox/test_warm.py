"""Warm starts: the cold verdicts and output, one program per sandbox, nothing kept between."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reflectseq.enums import ExecutionStatus
from reflectseq.sandbox import ExecutionRequest, ExecutionResult, build_backend, execute
from reflectseq.sandbox.local import LocalBackend
from reflectseq.sandbox.reaping import become_child_subreaper, reap_adopted
from reflectseq.sandbox.warm import WarmPool, attach_warm_pool
from reflectseq.settings import WARM_UID_OFFSET, WARM_UIDS, Settings, get_settings
from tests.sandbox.conftest import slot_uids

pytestmark = pytest.mark.usefixtures("no_leftovers")

READY_DEADLINE_S = 60.0  # a generous bound on a busy machine; only a broken pool reaches it


def local_backend() -> LocalBackend:
    backend = build_backend(get_settings())
    assert isinstance(backend, LocalBackend)
    return backend


def warm_uids() -> range:
    base = get_settings().sandbox_uid_base + WARM_UID_OFFSET
    return range(base, base + WARM_UIDS)


def _parent(pid: str) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
    except OSError:
        return None


def _descends_from(pid: str, ancestor: str) -> bool:
    while pid not in ("0", "1", ancestor):
        parent = _parent(pid)
        if parent is None:
            return False
        pid = parent
    return pid == ancestor


def warm_uid_processes() -> list[str]:
    """Processes of the warm uids that this process started (its own sandboxes, or what it
    adopted): live ones, and zombies it should have reaped. Other test processes may keep warm
    sandboxes of their own waiting meanwhile (a loop run), and this range is shared."""
    me = str(os.getpid())
    found = []
    for entry in os.scandir("/proc"):
        try:
            if entry.name.isdigit() and entry.stat().st_uid in warm_uids():
                stat = Path(entry.path, "stat").read_text()
                state, parent = stat.rsplit(")", 1)[1].split()[:2]
                if (state not in ("Z", "X") and _descends_from(entry.name, me)) or parent == me:
                    found.append(stat[:60])
        except OSError:
            continue
    return found


def no_warm_processes_left() -> None:
    """Killed processes take a moment to go; wait for them, failing only at a generous bound."""
    deadline = time.monotonic() + READY_DEADLINE_S
    while (left := warm_uid_processes()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert left == []


@pytest.fixture
def warm() -> Iterator[tuple[LocalBackend, WarmPool]]:
    backend = local_backend()
    pool = attach_warm_pool(backend, per_shape=1)
    yield backend, pool
    pool.close()
    if os.geteuid() == 0:
        no_warm_processes_left()


def wait_ready(pool: WarmPool) -> None:
    deadline = time.monotonic() + READY_DEADLINE_S
    while pool.waiting() < 1:
        assert time.monotonic() < deadline, "no warm sandbox was started"
        time.sleep(0.01)


def run_warm(backend: LocalBackend, pool: WarmPool, request: ExecutionRequest) -> ExecutionResult:
    """Run ``request`` in a warm sandbox (a first run of its shape asks for one)."""
    if pool.waiting() == 0:
        execute(request, backend)
    wait_ready(pool)
    before = pool.runs
    result = execute(request, backend)
    assert pool.runs == before + 1, "the run did not take the warm sandbox"
    return result


CASES = {
    "passed": ExecutionRequest(language="py", code="print('hello')\nassert 1 + 1 == 2\n"),
    "failed": ExecutionRequest(
        language="py", code="def f():\n    return 1\n", tests="assert f() == 2\n"
    ),
    "runtime error": ExecutionRequest(language="py", code="raise SystemExit(3)\n"),
    "timeout": ExecutionRequest(language="py", code="while True:\n    pass\n", run_timeout=2),
    "memory": ExecutionRequest(
        language="py",
        code="chunks = []\nwhile True:\n    chunks.append(bytearray(16 * 1024 * 1024))\n",
        memory_mb=256,
        run_timeout=10,
    ),
    "stdin": ExecutionRequest(
        language="py", code="import sys\nprint(sys.stdin.read().upper())\n", stdin="abc\n"
    ),
    "files": ExecutionRequest(
        language="py",
        code="import helper\nprint(helper.VALUE)\n",
        files={"helper.py": "VALUE = 42\n"},
    ),
    "compile step": ExecutionRequest(language="sh", code="echo out\necho err >&2\nexit 0\n"),
    "compile error": ExecutionRequest(language="sh", code="if then fi\n"),
}


@pytest.mark.parametrize("request_", CASES.values(), ids=CASES.keys())
def test_warm_start_gives_the_cold_verdict_and_output(
    warm: tuple[LocalBackend, WarmPool], request_: ExecutionRequest
) -> None:
    backend, pool = warm
    warm_result = run_warm(backend, pool, request_)
    cold = execute(request_, local_backend())
    assert warm_result.status == cold.status
    assert warm_result.status != ExecutionStatus.SANDBOX_ERROR, warm_result
    for step in ("compile", "run"):
        warm_step, cold_step = getattr(warm_result, step), getattr(cold, step)
        assert (warm_step is None) == (cold_step is None)
        if warm_step is not None:
            assert (warm_step.exit_code, warm_step.signal, warm_step.stdout, warm_step.stderr) == (
                cold_step.exit_code,
                cold_step.signal,
                cold_step.stdout,
                cold_step.stderr,
            )


def test_a_warm_sandbox_runs_one_program_and_keeps_nothing(
    warm: tuple[LocalBackend, WarmPool],
) -> None:
    backend, pool = warm
    write = ExecutionRequest(
        language="py",
        code="for path in ('/tmp/marker', '/work/marker'):\n    open(path, 'w').write('x')\n",
    )
    look = ExecutionRequest(
        language="py",
        code="import os\nprint(os.path.exists('/tmp/marker'), os.path.exists('/work/marker'))\n",
    )
    assert run_warm(backend, pool, write).status == ExecutionStatus.PASSED
    seen = run_warm(backend, pool, look)
    assert seen.status == ExecutionStatus.PASSED, seen
    assert seen.run is not None and seen.run.stdout == "False False\n"


def test_a_waiting_sandbox_holds_no_execution_slot(
    monkeypatch: pytest.MonkeyPatch, warm: tuple[LocalBackend, WarmPool]
) -> None:
    backend, pool = warm
    backend.slots.size = 1  # one slot on the host: a waiting sandbox holding it would block this
    execute(ExecutionRequest(language="py", code="pass\n"), backend)
    wait_ready(pool)
    other_shape = ExecutionRequest(language="sh", code="echo done\n")
    result = execute(other_shape, backend)
    assert result.status == ExecutionStatus.PASSED, result
    assert result.run is not None and result.run.stdout == "done\n"


def test_warm_starts_are_off_unless_enabled_and_the_setting_turns_them_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from reflectseq.sandbox import enable_warm_starts, get_backend, reset_backend

    monkeypatch.delenv("REFLECTSEQ_SANDBOX_WARM_STARTS", raising=False)
    get_settings.cache_clear()
    reset_backend()
    backend = get_backend()
    assert isinstance(backend, LocalBackend) and backend.warm is None  # one-off commands
    enable_warm_starts()
    assert backend.warm is not None and backend.warm.per_shape == 1  # on by default
    reset_backend()
    monkeypatch.setenv("REFLECTSEQ_SANDBOX_WARM_STARTS", "0")
    get_settings.cache_clear()
    backend = get_backend()
    enable_warm_starts()
    assert isinstance(backend, LocalBackend) and backend.warm is None
    reset_backend()


def test_a_forked_child_drops_the_parents_waiting_sandboxes(
    warm: tuple[LocalBackend, WarmPool],
) -> None:
    """A child that kept the write ends would hold the parent's next program at end-of-file, so
    the child stays alive while the parent runs its program in the sandbox that was waiting."""
    backend, pool = warm
    request = ExecutionRequest(language="py", code="print('parent')\n")
    execute(request, backend)
    wait_ready(pool)
    parent_done, release_child = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(release_child)
        os.read(parent_done, 1)  # returns once the parent's run is over
        os._exit(0 if pool.waiting() == 0 else 1)
    os.close(parent_done)
    before = pool.runs
    result = execute(request, backend)
    os.close(release_child)
    _, status = os.waitpid(child, 0)
    assert pool.runs == before + 1, "the run did not take the warm sandbox"
    assert result.status == ExecutionStatus.PASSED, result
    assert os.waitstatus_to_exitcode(status) == 0


def test_only_the_most_recent_shapes_keep_sandboxes(
    monkeypatch: pytest.MonkeyPatch, warm: tuple[LocalBackend, WarmPool]
) -> None:
    monkeypatch.setattr("reflectseq.sandbox.warm.MAX_SHAPES", 1)
    backend, pool = warm
    execute(ExecutionRequest(language="py", code="pass\n"), backend)
    wait_ready(pool)
    execute(ExecutionRequest(language="py", code="pass\n", run_timeout=5), backend)  # a new shape
    deadline = time.monotonic() + READY_DEADLINE_S
    while pool.shapes() != 1 or pool.waiting() != 1:
        assert time.monotonic() < deadline, "the older shape kept its sandbox"
        time.sleep(0.01)


def uids_of_my_children() -> list[int]:
    """Uids of this process's bubblewrap children (other tests' helpers are no concern here)."""
    me = str(os.getpid())
    uids = []
    for entry in os.scandir("/proc"):
        try:
            stat = Path(entry.path, "stat").read_text() if entry.name.isdigit() else ""
            if stat and "(bwrap)" in stat and stat.rsplit(")", 1)[1].split()[1] == me:
                uids.append(entry.stat().st_uid)
        except OSError:
            continue
    return uids


@pytest.mark.skipif(os.geteuid() != 0, reason="private uids are given only when running as root")
def test_a_waiting_sandbox_runs_under_a_uid_of_its_own_range(
    warm: tuple[LocalBackend, WarmPool],
) -> None:
    """Warm uids never meet the slots': a waiting sandbox must not take a slot's uid."""
    backend, pool = warm
    execute(ExecutionRequest(language="py", code="pass\n"), backend)
    wait_ready(pool)
    waiting = uids_of_my_children()  # the waiting sandbox's bubblewrap, and nothing else of ours
    assert len(waiting) == 1 and waiting[0] in warm_uids(), waiting
    assert not set(warm_uids()) & set(slot_uids())


def test_the_warm_uids_must_stay_mappable() -> None:
    top = 2**31 - 1 - WARM_UID_OFFSET - WARM_UIDS + 1
    assert (
        Settings(
            sandbox_uid_base=top, sandbox_concurrency=1, sandbox_warm_starts=1
        ).sandbox_uid_base
        == top
    )
    with pytest.raises(ValueError, match="sandbox_uid_base: the warm sandboxes' uids"):
        Settings(sandbox_uid_base=top + 1, sandbox_concurrency=1, sandbox_warm_starts=1)
    assert Settings(sandbox_uid_base=top + 1, sandbox_concurrency=1, sandbox_warm_starts=0)


EXITS_WITH_A_SANDBOX_WAITING = """
import time
from reflectseq.sandbox import ExecutionRequest, build_backend, execute
from reflectseq.sandbox.warm import attach_warm_pool
from reflectseq.settings import get_settings

backend = build_backend(get_settings())
pool = attach_warm_pool(backend, per_shape=1)
execute(ExecutionRequest(language="py", code="print(1)"), backend)
deadline = time.monotonic() + 60
while pool.waiting() < 1 and time.monotonic() < deadline:
    time.sleep(0.01)
print(pool.waiting(), flush=True)
"""


def test_a_process_that_exits_leaves_its_subreaper_no_warm_sandbox() -> None:
    # As under a supervisor or a test runner that runs `reflectseq run`: orphans come to us.
    become_child_subreaper()
    done = subprocess.run(
        [sys.executable, "-c", EXITS_WITH_A_SANDBOX_WAITING],
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    )
    assert done.stdout.strip() == "1"  # a sandbox was waiting when the interpreter exited
    no_warm_processes_left()


def test_the_bubblewraps_of_a_killed_process_are_reaped_by_its_subreaper() -> None:
    # A worker killed with SIGKILL under a process that runs sandboxes itself (a test runner, a
    # supervisor): no exit handler ends its waiting sandboxes, and they come to us as they die.
    become_child_subreaper()
    killed = subprocess.Popen(
        [sys.executable, "-c", EXITS_WITH_A_SANDBOX_WAITING + "import time\ntime.sleep(600)\n"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert killed.stdout is not None and killed.stdout.readline().strip() == "1"
    finally:
        killed.kill()
        killed.wait()
    deadline = time.monotonic() + READY_DEADLINE_S
    while warm_uid_processes() and time.monotonic() < deadline:
        reap_adopted()
        time.sleep(0.01)
    assert warm_uid_processes() == []
