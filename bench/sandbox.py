"""Sandbox overhead: latency and throughput through the sandbox beside a bare subprocess.

For (a) Python with five asserts, (b) C++ compile + run and (c) Java compile + run, the same
commands from the language table run as plain subprocesses in a temporary directory (the
baseline), through ``reflectseq.sandbox.execute`` with a cold start (the sandbox launched when the
program arrives) and with warm starts (``reflectseq.sandbox.warm``: a sandbox of the same shape
launched ahead, used once), interleaved in one process. Each round waits (untimed) until the warm
variant's replacement is ready: the steady state of a worker between programs. Prints median
and p90 latency, executions per second at each concurrency (the median of interleaved bursts) and
each variant's ratio to bare, then ratio lines per case against the targets (Python, warm: median
latency at most 1.2x bare, throughput at 2 slots at least 0.9x bare).

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
from reflectseq.sandbox import ExecutionRequest, build_backend, execute
from reflectseq.sandbox.local import LocalBackend
from reflectseq.sandbox.plan import ExecutionPlan, plan_execution
from reflectseq.sandbox.warm import WarmPool, attach_warm_pool
from reflectseq.settings import get_settings

LATENCY_TARGETS = {"python (5 asserts)": 1.2}
"""Median warm/bare latency each case must stay within (compiled cases are dominated by the
compiler, so their ratio is reported, not targeted)."""
THROUGHPUT_TARGETS = {"python (5 asserts)": (2, 0.9)}
"""(slots, least warm/bare executions per second) of each targeted case."""
READY_POLL_SECONDS = 0.002
BURSTS = 5
"""Throughput is the median of this many interleaved bursts per variant."""

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


def sandboxed(request: ExecutionRequest, backend: LocalBackend) -> None:
    result = execute(request, backend)
    if result.status != ExecutionStatus.PASSED:
        raise RuntimeError(f"sandboxed run did not pass: {result}")


def wait_until_ready(pool: WarmPool, count: int) -> None:
    """Block until ``count`` warm sandboxes wait, so the next sample starts from steady state."""
    while pool.waiting() < count:
        time.sleep(READY_POLL_SECONDS)


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


def local_backend() -> LocalBackend:
    backend = build_backend(get_settings())
    if not isinstance(backend, LocalBackend):
        raise SystemExit("the bench measures the local (bubblewrap) backend")
    return backend


def ratio_line(label: str, what: str, ratio: float, target: float, at_most: bool) -> str:
    met = ratio <= target if at_most else ratio >= target
    sign = "<=" if at_most else ">="
    return f"ratio {label}: {what} = {ratio:.2f}x  target {sign} {target:.2f}x: " + (
        "met" if met else "MISSED"
    )


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
    cold_backend, warm_backend = local_backend(), local_backend()
    pool = attach_warm_pool(warm_backend, per_shape=max(args.concurrency))
    print(
        f"{os.cpu_count()} CPUs; {args.rounds} rounds; concurrency {args.concurrency}; "
        f"load average {os.getloadavg()[0]:.2f}\n"
    )
    names = ("bare", "cold", "warm")
    header = f"{'case':<22}{'metric':<14}" + "".join(f"{n:>9}" for n in names)
    header += f"{'cold/bare':>11}{'warm/bare':>11}"
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
            "cold": lambda request=request: sandboxed(request, cold_backend),
            "warm": lambda request=request: sandboxed(request, warm_backend),
        }
        for run in variants.values():
            run()  # warm caches (page cache, JIT-less start-up paths); the first warm run is cold
        samples: dict[str, list[float]] = {name: [] for name in names}
        wait_until_ready(pool, 1)
        for _ in range(rounds):  # interleaved, so drift hits all alike
            for name, run in variants.items():
                samples[name] += latencies(run, 1)
            # Untimed: the replacement is launched before the next sample of any variant, so
            # its launch neither slows the others' samples nor is missing for the next warm one.
            wait_until_ready(pool, 1)
        rows = [
            ("median ms", {k: statistics.median(v) * 1000 for k, v in samples.items()}),
            ("p90 ms", {k: p90(v) * 1000 for k, v in samples.items()}),
        ]
        for concurrency in args.concurrency:
            jobs = max(2 * concurrency, rounds * concurrency // BURSTS)
            bursts: dict[str, list[float]] = {name: [] for name in names}
            for _ in range(BURSTS):  # interleaved short bursts, like the latency samples
                for name, run in variants.items():
                    if name == "warm":
                        wait_until_ready(pool, concurrency)
                    bursts[name].append(throughput(run, jobs, concurrency))
            rows.append(
                (f"exec/s @{concurrency}", {k: statistics.median(v) for k, v in bursts.items()})
            )
        for metric, values in rows:
            ratios = "".join(f"{values[n] / values['bare']:>10.2f}x" for n in names[1:])
            print(
                f"{label:<22}{metric:<14}" + "".join(f"{values[n]:>9.2f}" for n in names) + ratios
            )
        print()
        summary.append((label, dict(rows)))
    pool.close()
    for label, by_metric in summary:
        median = by_metric["median ms"]
        print(f"ratio {label}: median latency cold/bare = {median['cold'] / median['bare']:.2f}x")
        if label in LATENCY_TARGETS:
            print(
                ratio_line(
                    label,
                    "median latency warm/bare",
                    median["warm"] / median["bare"],
                    LATENCY_TARGETS[label],
                    at_most=True,
                )
            )
        slots, least = THROUGHPUT_TARGETS.get(label, (0, 0.0))
        rates = by_metric.get(f"exec/s @{slots}")
        if rates is not None:
            print(
                ratio_line(
                    label, f"exec/s @{slots} warm/bare", rates["warm"] / rates["bare"], least, False
                )
            )


if __name__ == "__main__":
    main()
