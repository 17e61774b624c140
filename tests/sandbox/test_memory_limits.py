"""Memory limits hold for every language, whichever mechanism the host allows.

Each program allocates and touches 3 GB outside whatever per-process limit its language has
(RLIMIT_AS is not set for these runtimes; node's Buffers and the JVM's native memory are outside
their heap flags), against the default budget of 1 GiB plus headroom. ``auto`` is the host's own
choice (a cgroup where one is writable); ``watchdog`` forces the sampling watchdog, so both paths
run on every host.
"""

# ruff: noqa: E501  (programs are data; their lines are kept whole to stay readable)
from __future__ import annotations

from pathlib import Path

import pytest

from reflectseq.enums import ExecutionStatus
from reflectseq.languages import get_language
from reflectseq.sandbox import ExecutionRequest, execute, get_backend
from reflectseq.sandbox.cgroup_v1 import memory_hierarchy, own_memory_cgroup
from reflectseq.sandbox.doctor import memory_bounds
from reflectseq.sandbox.local import LocalBackend
from reflectseq.sandbox.memory import MemoryMechanism
from tests.sandbox.programs import LOCAL, marked_slow, passing

pytestmark = pytest.mark.usefixtures("no_leftovers")

JVM_NATIVE = (
    'java.lang.reflect.Field f = sun.misc.Unsafe.class.getDeclaredField("theUnsafe"); f.setAccessible(true);\n'
    "sun.misc.Unsafe u = (sun.misc.Unsafe) f.get(null);\n"
    "for (int i = 0; i < 48; i++) { long p = u.allocateMemory(64L << 20); u.setMemory(p, 64L << 20, (byte) 1); }\n"
)
HOGS: dict[str, str] = {
    "cs": (
        "using System.Collections.Generic;\nclass Problem { public static void Main() {\n"
        "var keep = new List<byte[]>();\n"
        "for (int i = 0; i < 48; i++) { var b = new byte[64 << 20]; for (int j = 0; j < b.Length; j += 4096) b[j] = 1; keep.Add(b); }\n"
        "System.Console.WriteLine(keep.Count); } }\n"
    ),
    "go": (
        'package add_test\n\nimport "testing"\n\nfunc TestAdd(t *testing.T) {\n  var keep [][]byte\n'
        "  for i := 0; i < 48; i++ {\n    b := make([]byte, 64<<20)\n"
        "    for j := 0; j < len(b); j += 4096 { b[j] = 1 }\n    keep = append(keep, b)\n  }\n"
        "  t.Log(len(keep))\n}\n"
    ),
    "hs": (
        "import Control.Monad (forM_)\nimport Data.Word (Word8)\nimport Foreign.Marshal.Alloc (mallocBytes)\n"
        "import Foreign.Ptr (Ptr)\nimport Foreign.Storable (pokeByteOff)\n\nmain :: IO ()\n"
        "main = forM_ [1 .. 48 :: Int] $ \\_ -> do\n  p <- mallocBytes (64 * 1024 * 1024) :: IO (Ptr Word8)\n"
        "  forM_ [0, 4096 .. 64 * 1024 * 1024 - 1] $ \\o -> pokeByteOff p o (1 :: Word8)\n"
    ),
    "rkt": (
        "#lang racket\n(define keep (for/list ([i 48]) (make-bytes (* 64 1024 1024) 1)))\n"
        "(displayln (length keep))\n"
    ),
    "elixir": (
        "mb = :binary.copy(<<1>>, 1024 * 1024)\nkeep = Enum.map(1..48, fn _ -> :binary.copy(mb, 64) end)\n"
        "IO.puts(length(keep))\n"
    ),
    "js": "const keep = [];\nfor (let i = 0; i < 48; i++) keep.push(Buffer.alloc(64 << 20, 1));\nconsole.log(keep.length);\n",
    "ts": (
        "declare var Buffer: any;\nconst keep: any[] = [];\n"
        "for (let i = 0; i < 48; i++) keep.push(Buffer.alloc(64 << 20, 1));\nconsole.log(keep.length);\n"
    ),
    "java": f"class Problem {{ public static void main(String[] a) throws Exception {{\n{JVM_NATIVE}}} }}\n",
    "scala": (
        "object Problem {\n  def main(args: Array[String]): Unit = {\n"
        '    val f = classOf[sun.misc.Unsafe].getDeclaredField("theUnsafe"); f.setAccessible(true)\n'
        "    val u = f.get(null).asInstanceOf[sun.misc.Unsafe]\n"
        "    for (_ <- 0 until 48) { val p = u.allocateMemory(64L << 20); u.setMemory(p, 64L << 20, 1.toByte) }\n"
        "  }\n}\n"
    ),
    "clj": (
        '(let [f (.getDeclaredField sun.misc.Unsafe "theUnsafe")]\n  (.setAccessible f true)\n'
        "  (let [u (.get f nil)]\n    (dotimes [_ 48]\n"
        "      (let [p (.allocateMemory u (bit-shift-left 64 20))]\n"
        "        (.setMemory u p (bit-shift-left 64 20) (byte 1))))))\n"
    ),
    "py": "keep = []\nfor _ in range(48):\n    keep.append(bytearray(b'\\x01') * (64 << 20))\n",
}
MECHANISMS = ["auto", "watchdog"]
HOG_LANGUAGES = [code for code in HOGS if code in LOCAL]


@pytest.fixture(params=MECHANISMS)
def mechanism(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test once with the host's own mechanism and once with the watchdog."""
    monkeypatch.setenv("REFLECTSEQ_SANDBOX_MEMORY_ENFORCEMENT", request.param)
    return str(request.param)


def test_every_runtime_without_rlimit_as_has_a_hog() -> None:
    unlimited = [code for code in LOCAL if get_language(code).memory_policy != "address_space"]
    assert set(unlimited) <= set(HOGS)


def test_mechanism_follows_the_setting(mechanism: str) -> None:
    backend = get_backend()
    assert isinstance(backend, LocalBackend)
    allowed = {"watchdog"} if mechanism == "watchdog" else {"cgroup v2", "cgroup v1", "watchdog"}
    assert backend.memory.name in allowed, backend.memory


@pytest.mark.parametrize("code", marked_slow(HOG_LANGUAGES))
def test_three_gigabytes_is_memory_exceeded(code: str, mechanism: str) -> None:
    result = execute(ExecutionRequest(language=code, code=HOGS[code]))
    assert result.status == ExecutionStatus.MEMORY_EXCEEDED, result


@pytest.mark.parametrize("code", marked_slow(HOG_LANGUAGES))
def test_normal_program_passes_under_the_watchdog(
    code: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REFLECTSEQ_SANDBOX_MEMORY_ENFORCEMENT", "watchdog")
    result = execute(ExecutionRequest(language=code, code=passing(code)))
    assert result.status == ExecutionStatus.PASSED, result


def test_files_in_shared_memory_count_against_the_budget(mechanism: str) -> None:
    # 300k empty files hold no data, but their inodes and dentries are kernel memory.
    code = (
        "import os\nmade = 0\ntry:\n    for i in range(300_000):\n"
        "        os.close(os.open(f'/dev/shm/f{i}', os.O_CREAT | os.O_WRONLY))\n        made += 1\n"
        "except OSError as exc:\n    print('refused at', made, exc)\nelse:\n    print('made', made)\n"
    )
    result = execute(ExecutionRequest(language="py", code=code, memory_mb=100, run_timeout=60))
    refused = result.run is not None and "refused at" in result.run.stdout
    assert result.status == ExecutionStatus.MEMORY_EXCEEDED or refused, result


MOUNTINFO = (
    "25 30 0:22 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "31 25 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "33 25 0:29 /box /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "40 25 0:35 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
)


def test_v1_memory_hierarchy_is_found_in_mountinfo() -> None:
    assert memory_hierarchy(MOUNTINFO) == (Path("/sys/fs/cgroup/memory"), "/box")
    assert memory_hierarchy(MOUNTINFO.replace("rw,memory", "rw,pids")) is None
    assert own_memory_cgroup("5:pids:/\n4:memory:/box/worker\n0::/\n") == "/box/worker"
    assert own_memory_cgroup("0::/\n") is None


def test_memory_bounds_name_every_language() -> None:
    bounds = {b.code: b for b in memory_bounds(MemoryMechanism("watchdog", "probe"), works=True)}
    assert bounds["py"].detail == "RLIMIT_AS + watchdog"
    assert bounds["java"].detail == "heap flag + watchdog"
    assert bounds["go"].detail == "watchdog" and bounds["go"].active
    unbounded = memory_bounds(MemoryMechanism("watchdog", "probe"), works=False)
    assert {b.code: b.detail for b in unbounded}["go"] == "NONE"
    assert not any(b.active for b in unbounded)
