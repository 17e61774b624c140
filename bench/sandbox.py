"""Sandbox overhead: latency and throughput through the sandbox beside a bare subprocess.

For (a) Python with five asserts, (b) C++ compile + run and (c) Java compile + run, the same
commands from the language table run once as plain subprocesses in a temporary directory (the
baseline) and once through ``reflectseq.sandbox.execute``, interleaved in one process. Prints
median and p90 latency, executions per second at each concurrency, and the sandbox/bare ratio of
each, then one ratio line per case against its target (Python: median at most 1.3x bare).

    .venv/bin/python bench/sandbox.py [--rounds 20] [--concurrency 1 2] [--cases python c++ java]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from reflectseq.enums import ExecutionStatus
from reflectseq.sandbox import ExecutionRequest, execute
from reflectseq.sandbox.plan import ExecutionPlan, plan_execution
from reflectseq.settings import get_settings

LATENCY_TARGETS = {"python (5 asserts)": 1.3}
"""Median sandbox/bare latency each case must stay within (compiled cases are dominated by the
compiler, so their ratio is reported, not targeted)."""

CASES = {
    "python (5 asserts)": (
        "py",
        "def add(a, b):\n    return a + b\n\n"
        + "".join(f"assert add({i}, {i}) == {2 * i}\n" for i in range(5)),
    ),
    "c++ compile + run": (
        "cpp",
        "#include <bits/stdc++.h>\nlong add(long a, long b) { return a + b; }\n"
        "int main() { assert(add(2, 3) == 5); assert(add(-1, 1) == 0); }\n",
    ),
    "java compile + run": (
        "java",
        "class Problem {\n  static long add(long a, long b) { return a + b; }\n"
        "  public static void main(String[] args) { assert add(2, 3) == 5; }\n}\n",
    ),
}


def bare(plan: ExecutionPlan) -> None:
    """The plan's commands as plain subprocesses: the cost of the work itself."""
    with tempfile.TemporaryDirectory() as work:
        for name, data in plan.files.items():
            Path(work, name).write_bytes(data)
        env = {**plan.env, "HOME": work, "TMPDIR": work, "GOCACHE": work}
        for argv in (plan.compile, plan.run):
            if argv is None:
                continue
            done = subprocess.run(
                argv, cwd=work, env=env, capture_output=True, stdin=subprocess.DEVNULL, check=False
            )
            if done.returncode != 0:
                raise RuntimeError(f"bare run failed: {done.stderr[-500:]!r}")


def sandboxed(request: ExecutionRequest) -> None:
    result = execute(request)
    if result.status != ExecutionStatus.PASSED:
        raise RuntimeError(f"sandboxed run did not pass: {result}")


def latencies(run: Callable[[], None], rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return times


def throughput(run: Callable[[], None], jobs: int, concurrency: int) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for future in [pool.submit(run) for _ in range(jobs)]:
            future.result()
    return jobs / (time.perf_counter() - started)


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="latency samples per variant")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--cases", nargs="+", default=[], help="only the cases whose label starts with one of these"
    )
    args = parser.parse_args()
    cases = {
        label: case
        for label, case in CASES.items()
        if not args.cases or any(label.startswith(prefix) for prefix in args.cases)
    }
    memory = get_settings().sandbox_memory_mb
    print(f"{os.cpu_count()} CPUs; {args.rounds} rounds; concurrency {args.concurrency}\n")
    header = f"{'case':<22}{'metric':<16}{'bare':>10}{'sandbox':>10}{'ratio':>8}"
    print(header)
    print("-" * len(header))
    summary = []
    for label, (language, code) in cases.items():
        request = ExecutionRequest(language=language, code=code)
        plan = plan_execution(request, default_memory_mb=memory)
        compiled = plan.compile is not None
        rounds = max(3, args.rounds // 4) if compiled else args.rounds
        variants: dict[str, Callable[[], None]] = {
            "bare": lambda plan=plan: bare(plan),
            "sandbox": lambda request=request: sandboxed(request),
        }
        for run in variants.values():
            run()  # warm caches (page cache, JIT-less start-up paths)
        samples: dict[str, list[float]] = {"bare": [], "sandbox": []}
        for _ in range(rounds):  # interleaved, so drift hits both alike
            for name, run in variants.items():
                samples[name] += latencies(run, 1)
        rows = [
            ("median ms", {k: statistics.median(v) * 1000 for k, v in samples.items()}),
            ("p90 ms", {k: p90(v) * 1000 for k, v in samples.items()}),
        ]
        for concurrency in args.concurrency:
            jobs = rounds * concurrency
            rates = {name: throughput(run, jobs, concurrency) for name, run in variants.items()}
            rows.append((f"exec/s @{concurrency}", rates))
        for metric, values in rows:
            ratio = values["sandbox"] / values["bare"]
            print(
                f"{label:<22}{metric:<16}{values['bare']:>10.2f}{values['sandbox']:>10.2f}{ratio:>7.2f}x"
            )
        print()
        median = rows[0][1]
        summary.append((label, median["sandbox"] / median["bare"], LATENCY_TARGETS.get(label)))
    for label, ratio, target in summary:
        verdict = (
            ""
            if target is None
            else f"  target <= {target:.2f}x: " + ("met" if ratio <= target else "MISSED")
        )
        print(f"ratio {label}: median latency sandbox/bare = {ratio:.2f}x{verdict}")


if __name__ == "__main__":
    main()
