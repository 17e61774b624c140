"""Hostile programs: each is contained, classified, and leaves nothing behind on the host."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pyseccomp
import pytest

from reflectseq.enums import ExecutionStatus
from reflectseq.sandbox import ExecutionRequest, ExecutionResult, execute, execute_many

pytestmark = pytest.mark.usefixtures("no_leftovers")

SECRET_DB_URL = "postgresql+psycopg://admin:hunter2@127.0.0.1/reflectseq"
SECRET_API_KEY = "sk-sandbox-test-0123456789"
PROBED_SYSCALLS = ("ptrace", "process_vm_readv", "unshare", "setns", "mount", "bpf",
                   "perf_event_open", "userfaultfd", "keyctl", "add_key", "io_uring_setup",
                   "kexec_load")  # fmt: skip


def run_py(code: str, **limits: float) -> ExecutionResult:
    """Run Python in the sandbox with optional limits."""
    return execute(ExecutionRequest(language="py", code=code, **limits))


def test_fork_bomb_is_contained() -> None:
    result = execute(
        ExecutionRequest(language="sh", code=":(){ :|:& };:\nsleep 30\n", run_timeout=2)
    )
    assert result.status in {ExecutionStatus.TIMEOUT, ExecutionStatus.FAILED}, result
    # the host can still start processes right after
    assert run_py("print('alive')").status == ExecutionStatus.PASSED


def test_process_limit_stops_forking() -> None:
    code = (
        "import os, time\ncount = 0\ntry:\n    while True:\n        if os.fork() == 0:\n"
        "            time.sleep(30)\n            os._exit(0)\n        count += 1\n"
        "except OSError:\n    print('stopped at', count)\n"
    )
    result = run_py(code, run_timeout=5)
    assert result.status == ExecutionStatus.PASSED, result
    assert result.run is not None and "stopped at" in result.run.stdout
    assert int(result.run.stdout.split()[-1]) < 64


def test_memory_bomb_is_memory_exceeded() -> None:
    code = "chunks = []\nwhile True:\n    chunks.append(bytearray(16 * 1024 * 1024))\n"
    result = execute(ExecutionRequest(language="py", code=code, memory_mb=256, run_timeout=10))
    assert result.status == ExecutionStatus.MEMORY_EXCEEDED, result


def test_output_flood_is_output_exceeded_not_a_hang() -> None:
    code = "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n"
    started = time.monotonic()
    result = run_py(code, run_timeout=10)
    assert result.status == ExecutionStatus.OUTPUT_EXCEEDED, result
    assert result.run is not None and result.run.truncated
    assert "bytes omitted" in result.run.stdout
    assert time.monotonic() - started < 10


def test_child_outliving_its_parent_is_killed() -> None:
    code = (
        "import os, sys, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(60)\n"
        "    sys.exit(0)\nprint('parent done')\n"
    )
    started = time.monotonic()
    result = run_py(code)
    assert result.status == ExecutionStatus.PASSED, result
    assert time.monotonic() - started < 10  # the child's open pipes do not keep us waiting


@pytest.mark.parametrize(("host", "port"), [("127.0.0.1", 5432), ("1.1.1.1", 53), ("8.8.8.8", 443)])
def test_no_network(host: str, port: int) -> None:
    code = (
        "import socket\ns = socket.socket()\ns.settimeout(3)\ntry:\n"
        f"    s.connect(({host!r}, {port}))\nexcept OSError as exc:\n    print('blocked', exc)\n"
        "else:\n    raise SystemExit('connected')\n"
    )
    result = run_py(code)
    assert result.status == ExecutionStatus.PASSED, result


def test_system_and_host_home_are_not_writable() -> None:
    marker = f"reflectseq-escape-{os.getpid()}"
    code = (
        "import os\nfor path in ['/usr/{m}', '/etc/{m}', '/root/{m}', '/work/../{m}']:\n"
        "    try:\n        open(path, 'w').write('x')\n    except OSError as exc:\n"
        "        print('refused', path, exc)\n    else:\n        print('wrote', path)\n"
        "open(os.path.join(os.environ['HOME'], 'ok.txt'), 'w').write('scratch is fine')\n"
    ).replace("{m}", marker)
    result = run_py(code)
    assert result.status == ExecutionStatus.PASSED, result
    assert result.run is not None
    for path in (Path("/usr"), Path("/etc"), Path("/root"), Path("/")):
        assert not (path / marker).exists()
    assert not (Path.home() / "ok.txt").exists()


def test_worker_environment_is_invisible(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFLECTSEQ_DATABASE_URL", SECRET_DB_URL)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_API_KEY)
    code = (
        "import os\nprint(dict(os.environ))\n"
        "for pid in ['1', str(os.getppid()), 'self']:\n"
        "    try:\n        print(pid, open(f'/proc/{pid}/environ').read())\n"
        "    except OSError as exc:\n        print(pid, exc)\n"
        "print(os.listdir('/proc'))\n"
    )
    result = run_py(code)
    assert result.status == ExecutionStatus.PASSED, result
    assert result.run is not None
    for secret in ("hunter2", SECRET_API_KEY, "DATABASE_URL", "OPENAI"):
        assert secret not in result.run.stdout
    # only the sandbox's own processes are visible
    pids = [p for p in result.run.stdout.split("[")[-1].split() if p.strip("',]").isdigit()]
    assert len(pids) <= 3


def test_runs_as_an_unprivileged_user() -> None:
    code = (
        "import os\nassert os.getuid() != 0 and os.geteuid() != 0\n"
        "status = open('/proc/self/status').read()\n"
        "assert 'CapEff:\\t0000000000000000' in status, status\n"
    )
    assert run_py(code).status == ExecutionStatus.PASSED


def test_kill_everything_hurts_nobody_else() -> None:
    killer = ExecutionRequest(language="sh", code="kill -9 -1\necho still here\n")
    bystander = ExecutionRequest(language="py", code="import time\ntime.sleep(1.5)\n")
    killer_result, bystander_result = execute_many([killer, bystander], concurrency=2)
    assert killer_result.status in {
        ExecutionStatus.PASSED,
        ExecutionStatus.RUNTIME_ERROR,
    }, killer_result
    assert bystander_result.status == ExecutionStatus.PASSED, bystander_result
    assert os.getppid() > 0 and os.kill(os.getpid(), 0) is None


def test_scratch_dir_size_is_capped() -> None:
    code = (
        "try:\n    with open('big', 'wb') as f:\n        for _ in range(1024):\n"
        "            f.write(b'x' * 1024 * 1024)\nexcept OSError as exc:\n    print('full', exc)\n"
    )
    result = run_py(code)
    assert result.status in {ExecutionStatus.PASSED, ExecutionStatus.OUTPUT_EXCEEDED}, result


def test_shared_memory_is_capped_like_the_scratch_dir() -> None:
    code = (
        "written = 0\ntry:\n    with open('/dev/shm/big', 'wb') as f:\n"
        "        for _ in range(600):\n            f.write(b'x' * 1024 * 1024)\n"
        "            written += 1\n"
        "except OSError as exc:\n    print('refused after', written, 'MiB', exc)\n"
        "else:\n    raise SystemExit('wrote 600 MiB')\n"
    )
    result = run_py(code)
    assert result.status == ExecutionStatus.PASSED, result
    assert result.run is not None and "refused after" in result.run.stdout


def test_nothing_but_the_scratch_mounts_is_writable() -> None:
    code = (
        "import os\nfor path in ['/x', '/dev/x', '/proc/x', '/tmp/x', '/work/x', '/dev/shm/x']:\n"
        "    try:\n        open(path, 'w').close()\n    except OSError:\n"
        "        print('refused', path)\n    else:\n        print('wrote', path)\n"
    )
    result = run_py(code)
    assert result.run is not None, result
    lines = set(result.run.stdout.splitlines())
    assert {"refused /x", "refused /dev/x", "refused /proc/x"} <= lines, result
    assert {"wrote /tmp/x", "wrote /work/x", "wrote /dev/shm/x"} <= lines, result


def test_denied_system_calls_fail_with_eperm() -> None:
    arch = pyseccomp.system_arch()
    numbers = {name: pyseccomp.resolve_syscall(arch, name) for name in PROBED_SYSCALLS}
    code = (
        "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        f"for name, number in {numbers!r}.items():\n"
        "    ctypes.set_errno(0)\n    result = libc.syscall(number, 0, 0, 0, 0, 0)\n"
        "    print(name, result, os.strerror(ctypes.get_errno()))\n"
        "print('personality', libc.personality(0x0400000), os.strerror(ctypes.get_errno()))\n"
        "print('query', libc.personality(0xffffffff) >= 0)\n"
    )
    result = run_py(code)
    assert result.status == ExecutionStatus.PASSED, result
    assert result.run is not None
    lines = result.run.stdout.splitlines()
    for name in [*PROBED_SYSCALLS, "personality"]:
        assert f"{name} -1 Operation not permitted" in lines, result.run.stdout
    assert "query True" in lines


def test_tracing_the_init_fails_and_the_run_ends_normally() -> None:
    # PTRACE_SEIZE of the namespace's init used to stop it, so a finished run waited for its
    # deadline and read as a timeout.
    code = (
        "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "for request in (16, 0x4206):  # PTRACE_ATTACH, PTRACE_SEIZE\n"
        "    assert libc.ptrace(request, 1, 0, 0) == -1\n"
        "    assert ctypes.get_errno() == 1, os.strerror(ctypes.get_errno())\n"
        "print('not traced')\n"
    )
    result = run_py(code, run_timeout=10)
    assert result.status == ExecutionStatus.PASSED, result
